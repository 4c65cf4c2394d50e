#include "compress/accept_encoding.h"

#include "core/strings.h"

namespace portico::compress {

namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// The weight of one list element's parameters (";q=0.5;foo=bar"): 1000 without a q.
int element_weight(std::string_view params) {
  int q = 1000;
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim(p.substr(0, eq));
    if (name.size() != 1 || ascii_lower(name[0]) != 'q') continue;
    int v = parse_qvalue(trim(p.substr(eq + 1)));
    q = v < 0 ? 0 : v;  // an invalid weight refuses the coding, as nginx reads it
  }
  return q;
}

}  // namespace

int parse_qvalue(std::string_view v) {
  if (v.empty() || v.size() > 5) return -1;
  if (v[0] != '0' && v[0] != '1') return -1;
  int q = (v[0] - '0') * 1000;
  if (v.size() == 1) return q;
  if (v[1] != '.') return -1;
  int scale = 100;
  for (size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (v[i] < '0' || v[i] > '9') return -1;
    q += (v[i] - '0') * scale;
  }
  return q > 1000 ? -1 : q;
}

AcceptEncoding parse_accept_encoding(std::string_view value) {
  AcceptEncoding ae;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view el = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    size_t semi = el.find(';');
    std::string_view coding = trim(el.substr(0, semi));
    int16_t* slot = nullptr;
    if (iequals(coding, "gzip"))
      slot = &ae.gzip;
    else if (iequals(coding, "br"))
      slot = &ae.br;
    else if (iequals(coding, "zstd"))
      slot = &ae.zstd;
    if (!slot || *slot >= 0) continue;
    *slot = int16_t(
        element_weight(semi == std::string_view::npos ? std::string_view() : el.substr(semi + 1)));
  }
  return ae;
}

Coding choose_coding(const AcceptEncoding& ae, unsigned allowed) {
  Coding best = Coding::kNone;
  int best_q = 0;
  for (Coding c : {Coding::kBrotli, Coding::kZstd, Coding::kGzip}) {
    if (!(allowed & coding_bit(c))) continue;
    const int q = ae.weight(c);
    if (q > best_q) {  // strictly: at equal weight the earlier (server-preferred) one stays
      best = c;
      best_q = q;
    }
  }
  return best;
}

std::string_view coding_name(Coding c) {
  switch (c) {
    case Coding::kBrotli:
      return "br";
    case Coding::kZstd:
      return "zstd";
    case Coding::kGzip:
      return "gzip";
    case Coding::kNone:
      break;
  }
  return {};
}

}  // namespace portico::compress
