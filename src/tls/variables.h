// The $ssl_* variables of a TLS connection (nginx's ngx_http_ssl_module and
// ngx_stream_ssl_module variables: the same names and values in both): one getter each, given
// the connection's TLS layer. The protocol modules expose them under their own variable
// machinery (http: VariableDef rows; stream: compiled log formats and values). Getters run on
// worker threads and append to `out` only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portico::tls {

class Session;

inline constexpr std::string_view kVariableNames[] = {
    "ssl_ciphers",
    "ssl_curves",
    "ssl_curve",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    "ssl_client_escaped_cert",
    "ssl_early_data",
    "ssl_alpn_protocol",
    "ssl_protocol",
    "ssl_cipher",
    "ssl_server_name",
    "ssl_session_reused",
    "ssl_session_id",
    "ssl_client_verify",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_cert",
    "ssl_client_raw_cert",
};
inline constexpr size_t kVariableCount = std::size(kVariableNames);

// Appends variable kVariableNames[index] of the connection whose TLS layer is `t` (null on a
// plain connection). False: "not found" (a plain connection, or a value it does not have).
// REQUIRES: index < kVariableCount.
bool get_variable(size_t index, const Session* t, std::string& out);

// The index of $`name` in kVariableNames, or -1.
int find_variable(std::string_view name);

}  // namespace portico::tls
