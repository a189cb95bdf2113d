#include "repux/net/allowed_peers.h"

#include "repux/error.h"

#include <algorithm>

namespace repux {

AllowedPeer parse_allowed_peer(const std::string& text) {
  const auto at = text.find('@');
  AllowedPeer peer{text.substr(0, at), std::nullopt};
  if (at != std::string::npos) peer.host = text.substr(at + 1);
  const bool title_ok = !peer.ae_title.empty() && peer.ae_title.size() <= 16 && peer.ae_title.find_first_of(" \\") == std::string::npos;
  if (!title_ok || (peer.host && (peer.host->empty() || peer.host->find('@') != std::string::npos))) {
    fail("--allow '{}': expected AET or AET@host (an AE title of 1-16 characters)", text);
  }
  return peer;
}

std::vector<AllowedPeer> parse_allowed_peers(const std::vector<std::string>& texts) {
  std::vector<AllowedPeer> peers;
  for (const auto& t : texts) peers.push_back(parse_allowed_peer(t));
  return peers;
}

bool is_allowed(const std::vector<AllowedPeer>& peers, const std::string& calling_ae, const std::string& address) {
  return std::any_of(peers.begin(), peers.end(),
                     [&](const AllowedPeer& p) { return p.ae_title == calling_ae && (!p.host || *p.host == address); });
}

}  // namespace repux
