#pragma once
// The interactive viewer: one HTML page on NiiVue (the WebGL2 viewer for NIfTI) that shows an image with
// its label maps: axial, coronal and sagittal slices and a 3-D render, scrolling and crosshair, a legend
// of the classes in the model's names and colours (label_colour, as the previews, SEG and RTSTRUCT), per
// class visibility and opacity, per layer visibility and opacity, CT window presets (for an image that
// choose_window, preview.h, takes for a CT), and, for a
// prediction with its ground truth, an error layer: false positives (predicted foreground where the
// truth has another label) and false negatives (truth foreground predicted as background) in two colours.
//
// The volumes are embedded (gzipped NIfTI, base64) and so is NiiVue's bundle, unless the page is told to
// load the bundle from a file beside it (report folders share one copy); a Content-Security-Policy lets
// the page load nothing from the network. It works from file:// with no server and no network.
#include "repux/io/label_colours.h"
#include "repux/io/volume.h"

#include <string>
#include <vector>

namespace repux {

// The error layer's values and colours.
constexpr uint8_t kFalsePositive = 1, kFalseNegative = 2;
constexpr Rgb kFalsePositiveColour{255, 0, 255}, kFalseNegativeColour{0, 255, 255};

// 0 where prediction and truth agree or both are background; kFalsePositive where the prediction has a
// foreground label the truth does not; kFalseNegative where the truth's foreground is predicted as
// background. Same grid required (an error naming the shapes otherwise).
Volume error_map(const Volume& prediction, const Volume& truth);

struct ViewerInput {
  std::string title;
  const Volume* image = nullptr;
  const Volume* prediction = nullptr;  // label maps on the image's grid; either may be null
  const Volume* truth = nullptr;
  std::vector<std::string> class_names;  // background first; empty: the label maps' names, else "label N"
};

struct ViewerPageOptions {
  double label_opacity = 0.5;  // the label layers' opacity when the page opens
  std::string library_src;     // "": NiiVue's bundle inlined; else its path relative to the page
};

// Writes the page (atomically). Throws when NiiVue's bundle cannot be found (see niivue_bundle_path).
void write_viewer_page(const ViewerInput& input, const std::string& html_path, const ViewerPageOptions& options = {});

// NiiVue's bundle as installed with repux: REPUX_NIIVUE (a file) if set, else share/repux/niivue/
// niivue.umd.js beside the program (build tree), above it (installed: bin/../share) or under /usr and
// /usr/local. An error naming the places looked in when none has it.
std::string niivue_bundle_path();

// Copies the bundle into `folder` (once; a copy of the same size is kept) and returns its file name,
// for pages written there with library_src.
std::string copy_niivue_bundle(const std::string& folder);

}  // namespace repux
