#pragma once
// Who may store to a DICOM node: pairs of a calling AE title and the address it must call from.
// "PACS@10.1.2.3" binds PACS to that address; "PACS" alone is PACS from any address. An association is
// accepted only when one entry matches both its calling AE title and its peer's address, so one
// title-only entry changes nothing for the other titles.
#include <optional>
#include <string>
#include <vector>

namespace repux {

struct AllowedPeer {
  std::string ae_title;
  std::optional<std::string> host;  // an IP address as the node sees the peer; none: any address
};

// "AET" or "AET@host"; an error naming the text otherwise (an AE title is 1-16 characters).
AllowedPeer parse_allowed_peer(const std::string& text);
std::vector<AllowedPeer> parse_allowed_peers(const std::vector<std::string>& texts);

// Whether `calling_ae` calling from `address` is one of `peers`.
bool is_allowed(const std::vector<AllowedPeer>& peers, const std::string& calling_ae, const std::string& address);

}  // namespace repux
