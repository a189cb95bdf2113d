#pragma once
// What the DICOM node (the net layer) shares with the DICOM readers of this layer: DCMTK set up the
// same way once per process, and string attributes read the same way. DCMTK's types are only
// declared here, so that including this header needs none of DCMTK's.
#include <string>

class DcmItem;
class DcmTagKey;

namespace repux::dicom {

// DCMTK's decoders (JPEG, JPEG-LS, RLE) registered once per process, and its log silenced (its
// messages would interleave with ours; every failure reaches the user as a repux::Error) unless the
// environment sets REPUX_DICOM_LOG.
void initialise();

// A string attribute, trimmed; empty when absent.
std::string text(DcmItem& item, const DcmTagKey& tag);

// A UID derived from `key` (DICOM PS3.5 B.2: "2.25." and a 128-bit number, here a hash of the key):
// the same key always gives the same UID, different keys different ones (with the odds of a UUID).
std::string derived_uid(const std::string& key);

// Whether `s` is a UID as far as a path is concerned: 1-64 characters, components of digits separated
// by single dots (PS3.5 9.1; a component's leading zero, against its rule but written by common tools
// such as plastimatch, is let through: such series are real and their UIDs name nothing else).
bool is_uid(const std::string& s);

}  // namespace repux::dicom
