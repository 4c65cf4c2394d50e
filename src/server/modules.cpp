#include "server/modules.h"

#include "apps/directives.h"
#include "auth/auth_basic_module.h"
#include "compress/compress_module.h"
#include "http/http_modules.h"
#include "http/ssl_module.h"
#include "http2/http2_module.h"
#include "proxy/directives.h"
#include "server/status_module.h"
#include "static/autoindex_module.h"
#include "static/charset_module.h"
#include "static/static_module.h"

namespace portico::server {

void register_http_modules() {
  static const bool done = [] {
    // Order: the core module first (its rows win for shared names), then as nginx lists its
    // modules; finish_level hooks run in this order.
    for (http::Module* m :
         {&http::core_module, &http::log_module, &http::map_module, &http::rewrite_module,
          &http::access_module, &auth::auth_basic_module, &http::realip_module, &http::limit_module,
          &http::headers_module, &http2::http2_module, &http::ssl_module,
          &static_files::static_module, &static_files::autoindex_module, &proxy::proxy_module,
          &static_files::charset_module, &compress::compress_module, &apps::apps_module,
          &server::status_module})
      http::register_module(*m);
    http::set_default_content(static_files::kStaticContent);
    http::set_http2_codec(http2::make_codec);
    static_files::set_precompressed_lookup(compress::precompressed_lookup);
    return true;
  }();
  (void)done;
}

}  // namespace portico::server
