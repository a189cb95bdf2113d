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

}  // namespace repux::dicom
