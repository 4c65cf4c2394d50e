// The programs portico ships for app types that need one (apps/loaders.cpp), written by the
// supervisor into a private directory when first needed:
//  - kNodeShim, loaded with `node --require`: the app's first listen() (app.listen(3000), any
//    port or path) listens on 127.0.0.1:$PORT instead, so N processes of an unchanged app run
//    side by side (Passenger's node-loader does the same with a unix socket);
//  - kWsgiLoader, `python3 wsgi-loader.py STARTUP_FILE` in the app root: serves the startup
//    file's (passenger_wsgi.py) `application` on 127.0.0.1:$PORT, standard library only.
#pragma once

#include <string_view>

namespace portico::apps {

extern const std::string_view kNodeShim;
extern const std::string_view kWsgiLoader;

}  // namespace portico::apps
