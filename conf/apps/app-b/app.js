// Site B's Node app in the demo, written as for Passenger: it listens on a hard-coded port;
// portico's startup shim makes each of its processes listen where portico says.
const http = require('http');

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(`site B: Node app, pid ${process.pid}, ${req.method} ${req.url}, ` +
          `NODE_ENV ${process.env.NODE_ENV}\n`);
});
server.listen(3000, () => console.log(`site B app (pid ${process.pid}) listening`));
