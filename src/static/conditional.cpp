#include "static/conditional.h"

#include "core/http_date.h"
#include "core/strings.h"
#include "static/etag.h"

namespace portico::static_files {

namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Compares two entity tags; weak: ignore W/ on both, strong: equal and neither is weak.
bool etags_equal(std::string_view a, std::string_view b, bool weak) {
  if (weak) {
    if (is_weak_etag(a)) a.remove_prefix(2);
    if (is_weak_etag(b)) b.remove_prefix(2);
  } else if (is_weak_etag(a) || is_weak_etag(b)) {
    return false;
  }
  return a == b;
}

}  // namespace

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) {
  list = trim(list);
  if (list == "*") return true;
  if (etag.empty()) return false;
  size_t i = 0;
  const size_t n = list.size();
  while (i < n) {
    while (i < n && (is_ows(list[i]) || list[i] == ',')) ++i;
    if (i == n) break;
    const size_t start = i;
    if (n - i >= 2 && list[i] == 'W' && list[i + 1] == '/') i += 2;
    if (i < n && list[i] == '"') {
      // A quoted opaque-tag; it may contain commas, so find the closing quote first.
      size_t close = list.find('"', i + 1);
      if (close != std::string_view::npos) {
        const std::string_view tag = list.substr(start, close + 1 - start);
        i = close + 1;
        while (i < n && is_ows(list[i])) ++i;
        if (i == n || list[i] == ',') {
          if (etags_equal(tag, etag, weak)) return true;
          continue;
        }
      }
    }
    // Malformed element: skip to the next comma.
    while (i < n && list[i] != ',') ++i;
  }
  return false;
}

Precondition evaluate_preconditions(bool get_or_head, std::string_view etag, time_t mtime,
                                    const ConditionalHeaders& h, ImsMode ims_mode) {
  // Step 1 / 2: If-Match, or else If-Unmodified-Since.
  if (!h.if_match.empty()) {
    if (!etag_list_matches(h.if_match, etag, false)) return Precondition::kFailed;
  } else if (!h.if_unmodified_since.empty()) {
    const auto iums = parse_http_date(trim(h.if_unmodified_since));
    if (iums && mtime > *iums) return Precondition::kFailed;
  }

  // Step 3 / 4: If-None-Match, or else If-Modified-Since (GET and HEAD only).
  if (!h.if_none_match.empty()) {
    if (etag_list_matches(h.if_none_match, etag, true))
      return get_or_head ? Precondition::kNotModified : Precondition::kFailed;
  } else if (!h.if_modified_since.empty() && get_or_head && ims_mode != ImsMode::kOff) {
    const auto ims = parse_http_date(trim(h.if_modified_since));
    if (ims && (*ims == mtime || (ims_mode == ImsMode::kBefore && mtime < *ims)))
      return Precondition::kNotModified;
  }
  return Precondition::kProceed;
}

bool if_range_matches(std::string_view if_range, std::string_view etag, time_t mtime) {
  if_range = trim(if_range);
  if (if_range.size() >= 2 && if_range.back() == '"') {
    return !etag.empty() && etags_equal(if_range, etag, false);
  }
  const auto date = parse_http_date(if_range);
  return date && mtime >= 0 && *date == mtime;
}

}  // namespace portico::static_files
