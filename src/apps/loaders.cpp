#include "apps/loaders.h"

namespace portico::apps {

const std::string_view kNodeShim = R"JS('use strict';
// portico's listen shim (loaded with node --require): the app's first listen() call, whatever
// port or path it names, listens where portico says: the unix socket $PORTICO_SOCKET, else
// 127.0.0.1:$PORT.
const net = require('net');
const sock = process.env.PORTICO_SOCKET;
const port = parseInt(process.env.PORT, 10);
if (sock || port > 0) {
  const listen = net.Server.prototype.listen;
  let taken = false;
  net.Server.prototype.listen = function (...args) {
    if (taken) return listen.apply(this, args);
    taken = true;
    const cb = args.length && typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    const opts = args.length && typeof args[0] === 'object' && args[0] !== null ? args[0] : {};
    const backlog = typeof opts.backlog === 'number' ? opts.backlog : 511;
    if (sock) {
      try { require('fs').unlinkSync(sock); } catch (e) { /* not there: fine */ }
      return cb ? listen.call(this, sock, backlog, cb) : listen.call(this, sock, backlog);
    }
    return cb ? listen.call(this, port, '127.0.0.1', backlog, cb) : listen.call(this, port, '127.0.0.1', backlog);
  };
}
)JS";

const std::string_view kWsgiLoader =
    R"PY(# portico's WSGI loader: serves STARTUP_FILE's `application` on the unix socket
# $PORTICO_SOCKET, else on 127.0.0.1:$PORT.
import importlib.util
import os
import signal
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

startup = sys.argv[1] if len(sys.argv) > 1 else 'passenger_wsgi.py'
root = os.getcwd()
sys.path.insert(0, root)
path = startup if os.path.isabs(startup) else os.path.join(root, startup)
spec = importlib.util.spec_from_file_location('passenger_wsgi', path)
module = importlib.util.module_from_spec(spec)
sys.modules['passenger_wsgi'] = module
spec.loader.exec_module(module)
application = module.application


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer, WSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self):
        try:
            os.unlink(self.server_address)
        except FileNotFoundError:
            pass
        socketserver.UnixStreamServer.server_bind(self)
        self.server_name, self.server_port = 'localhost', 80
        self.setup_environ()


class Handler(WSGIRequestHandler):
    def setup(self):
        if not isinstance(self.client_address, tuple):  # a unix socket's peer has no address
            self.client_address = ('127.0.0.1', 0)
        super().setup()

    def log_message(self, format, *args):
        pass


sock = os.environ.get('PORTICO_SOCKET')
if sock:
    server = UnixServer(sock, Handler)
else:
    server = Server(('127.0.0.1', int(os.environ['PORT'])), Handler)
server.set_app(application)
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
sys.stdout.flush()
server.serve_forever()
)PY";

}  // namespace portico::apps
