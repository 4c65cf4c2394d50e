// The charset module (nginx's ngx_http_charset_filter_module): adds "; charset=NAME" to the
// Content-Type of responses whose type is in charset_types, and recodes the body when
// source_charset differs and a charset_map joins the two. Its hook runs when the response head
// is complete (Module::body_filter), before compression's: a recoded body is not compressed.
#pragma once

#include "http/module.h"

namespace portico::static_files {

extern http::Module charset_module;

// Applies the charset to r.resp's Content-Type now (the static handler's multipart ranges,
// whose parts repeat the type). Returns whether the body would need recoding (it is not
// recoded then: the caller keeps the ranges as they are, as nginx's range filter does).
bool apply_charset_type(http::Request& r);

}  // namespace portico::static_files
