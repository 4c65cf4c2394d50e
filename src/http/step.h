// http::Step: the one result type of the request pipeline's phases and content handlers.
#pragma once

#include <cstdint>

namespace portico::http {

// What a phase, the rewrite script, try_files or a content handler asks the pipeline to do next
// (nginx's NGX_OK / NGX_DECLINED / NGX_DONE / status codes, as one explicit type).
class Step {
 public:
  enum class Kind : uint8_t {
    kRespond,           // r.resp and r.out are ready: send them
    kNext,              // this phase is done: go on to the next one
    kStatus,            // answer code() (error_page applies)
    kInternalRedirect,  // r.uri/r.args changed: run again from the server rewrite phase
    kNamedRedirect,     // r.loc is a named location: run again from its rewrite phase
    kTakeOver,          // the content handler's session produces the response
    kClose,             // close the connection without a response (return 444)
    kDelay,             // wait Request::delay_ms (limit_req), then resume at preaccess
  };

  static constexpr Step respond() { return Step(Kind::kRespond, 0); }
  static constexpr Step next() { return Step(Kind::kNext, 0); }
  // REQUIRES: 100 <= code <= 999.
  static constexpr Step status(int code) { return Step(Kind::kStatus, code); }
  static constexpr Step internal_redirect() { return Step(Kind::kInternalRedirect, 0); }
  static constexpr Step named_redirect() { return Step(Kind::kNamedRedirect, 0); }
  static constexpr Step take_over() { return Step(Kind::kTakeOver, 0); }
  static constexpr Step close() { return Step(Kind::kClose, 0); }
  static constexpr Step delay() { return Step(Kind::kDelay, 0); }

  constexpr Kind kind() const { return kind_; }
  constexpr bool is(Kind k) const { return kind_ == k; }
  constexpr bool redirects() const {
    return kind_ == Kind::kInternalRedirect || kind_ == Kind::kNamedRedirect;
  }
  constexpr int code() const { return code_; }  // kStatus only
  constexpr bool operator==(const Step&) const = default;

 private:
  constexpr Step(Kind k, int code) : code_(int16_t(code)), kind_(k) {}
  int16_t code_;
  Kind kind_;
};

}  // namespace portico::http
