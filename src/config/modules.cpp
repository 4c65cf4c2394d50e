#include "config/modules.h"

namespace portico::config {

namespace {

constexpr NginxModule kModules[] = {
    // optional: --with-NAME when built
    {"http_ssl_module", false, "ssl_certificate", kServer},
    {"http_v2_module", false, "http2_chunk_size", kHttp},
    {"http_realip_module", false, "set_real_ip_from", kHttp},
    {"http_addition_module", false, "add_before_body", kLocation},
    {"http_xslt_module", false, "xslt_stylesheet", kLocation},
    {"http_image_filter_module", false, "image_filter", kLocation},
    {"http_geoip_module", false, "geoip_country", kHttp},
    {"http_sub_module", false, "sub_filter", kLocation},
    {"http_dav_module", false, "dav_methods", kLocation},
    {"http_flv_module", false, "flv", kLocation},
    {"http_mp4_module", false, "mp4", kLocation},
    {"http_gunzip_module", false, "gunzip", kLocation},
    {"http_gzip_static_module", false, "gzip_static", kLocation},
    {"http_auth_request_module", false, "auth_request", kLocation},
    {"http_random_index_module", false, "random_index", kLocation},
    {"http_secure_link_module", false, "secure_link", kLocation},
    {"http_slice_module", false, "slice", kLocation},
    {"http_stub_status_module", false, "stub_status", kLocation},
    {"http_perl_module", false, "perl", kLocation},
    {"mail", false, "mail", kMain},
    {"stream", false, "stream", kMain},
    {"stream_ssl_module", false, "ssl_certificate", kStreamServer},
    {"stream_realip_module", false, "set_real_ip_from", kStreamServer},
    {"stream_geoip_module", false, "geoip_country", kStream},
    {"stream_ssl_preread_module", false, "ssl_preread", kStreamServer},
    // default: --without-NAME when not built
    {"http", true, "http", kMain},
    {"http_charset_module", true, "charset", kHttp},
    {"http_gzip_module", true, "gzip", kHttp},
    {"http_ssi_module", true, "ssi", kHttp},
    {"http_userid_module", true, "userid", kHttp},
    {"http_access_module", true, "allow", kLocation},
    {"http_auth_basic_module", true, "auth_basic", kLocation},
    {"http_mirror_module", true, "mirror", kLocation},
    {"http_autoindex_module", true, "autoindex", kLocation},
    {"http_geo_module", true, "geo", kHttp},
    {"http_map_module", true, "map", kHttp},
    {"http_split_clients_module", true, "split_clients", kHttp},
    {"http_referer_module", true, "valid_referers", kLocation},
    {"http_rewrite_module", true, "rewrite", kLocation},
    {"http_proxy_module", true, "proxy_pass", kLocation},
    {"http_fastcgi_module", true, "fastcgi_pass", kLocation},
    {"http_uwsgi_module", true, "uwsgi_pass", kLocation},
    {"http_scgi_module", true, "scgi_pass", kLocation},
    {"http_grpc_module", true, "grpc_pass", kLocation},
    {"http_memcached_module", true, "memcached_pass", kLocation},
    {"http_limit_conn_module", true, "limit_conn", kLocation},
    {"http_limit_req_module", true, "limit_req", kLocation},
    {"http_empty_gif_module", true, "empty_gif", kLocation},
    {"http_browser_module", true, "modern_browser", kLocation},
    {"http_upstream_hash_module", true, "hash", kUpstream},
    {"http_upstream_ip_hash_module", true, "ip_hash", kUpstream},
    {"http_upstream_least_conn_module", true, "least_conn", kUpstream},
    {"http_upstream_random_module", true, "random", kUpstream},
    {"http_upstream_keepalive_module", true, "keepalive", kUpstream},
    {"http_upstream_zone_module", true, "zone", kUpstream},
    {"http-cache", true, "proxy_cache_path", kHttp},
    {"mail_pop3_module", true, "pop3_auth", 0},
    {"mail_imap_module", true, "imap_auth", 0},
    {"mail_smtp_module", true, "smtp_auth", 0},
    {"stream_limit_conn_module", true, "limit_conn", kStreamServer},
    {"stream_access_module", true, "allow", kStreamServer},
    {"stream_geo_module", true, "geo", kStream},
    {"stream_map_module", true, "map", kStream},
    {"stream_split_clients_module", true, "split_clients", kStream},
    {"stream_return_module", true, "return", kStreamServer},
    {"stream_set_module", true, "set", kStreamServer},
    {"stream_upstream_hash_module", true, "hash", kStreamUpstream},
    {"stream_upstream_least_conn_module", true, "least_conn", kStreamUpstream},
    {"stream_upstream_random_module", true, "random", kStreamUpstream},
    {"stream_upstream_zone_module", true, "zone", kStreamUpstream},
};

}  // namespace

std::span<const NginxModule> nginx_modules() {
  return kModules;
}

bool module_built(const NginxModule& m, const Registry& r) {
  return m.context == 0 ? r.known(m.directive) : r.find(m.directive, m.context) != nullptr;
}

std::string module_arguments(const Registry& r) {
  std::string with, without;
  for (const NginxModule& m : kModules) {
    const bool built = module_built(m, r);
    if (!m.default_on && built) with += " --with-" + std::string(m.name);
    if (m.default_on && !built) without += " --without-" + std::string(m.name);
  }
  std::string out = with + without;
  if (!out.empty()) out.erase(0, 1);
  return out;
}

}  // namespace portico::config
