#pragma once
// Previews: one picture of an image with label maps over it that reads as a medical image. The one
// renderer of `repux report`, `repux predict --preview`, the demo and the training's validation
// overlays.
//
// - Three rows: axial, coronal and sagittal slices through the centre of the labelled voxels (of the
//   first label map that has any; else through the volume's centre), drawn in patient orientation
//   whatever the voxel order on disk: the volume is turned to the closest RAS axes (as nibabel's
//   as_closest_canonical; an oblique volume is shown along its nearest axes) and drawn with the
//   radiological convention: the patient's right on the image's left, anterior up in axial, superior
//   up in coronal and sagittal, anterior on the left in sagittal. Pixels are square in mm.
// - Orientation letters on the edges, each slice's position in mm (RAS), column titles, a legend of
//   the classes present (name and colour, as in the SEG and RTSTRUCT: label_colour), the window.
// - Columns: the image alone, then one per label map (e.g. ground truth, prediction), as translucent
//   fills with outlines, or outlines only.
// - Greyscale through a window: given (a CT preset or W/L), else chosen from the image: a CT (the
//   DICOM modality, or air in the image: a 1st percentile at or below -500) gets the abdomen window
//   W400/L40; anything else (MR) the 1st to 99th percentile of its foreground (the voxels above the
//   image's minimum).
// Written as PNG (the only format; another extension is an error), atomically.
#include "repux/enum_names.h"
#include "repux/io/volume.h"

#include <optional>
#include <string>
#include <vector>

namespace repux {

enum class OverlayStyle { Fill, Outline };
template <>
struct EnumNames<OverlayStyle> {
  static constexpr const char* what = "overlay style";
  static constexpr std::pair<OverlayStyle, const char*> table[] = {{OverlayStyle::Fill, "fill"}, {OverlayStyle::Outline, "outline"}};
};

struct DisplayWindow {
  double width = 400, level = 40;
  std::string name;  // how it was chosen, e.g. "CT abdomen" or "1-99th percentile of the foreground"
};
// "abdomen" (W400/L40), "lung" (W1500/L-600), "bone" (W1800/L400), "brain" (W80/L40), or "W/L" with
// numbers ("350/50"); an error naming the text otherwise.
DisplayWindow parse_window(const std::string& text);
// The window for an image when none is given (see above); its name says why.
DisplayWindow choose_window(const Volume& image);

struct LabelLayer {
  std::string title;      // the column's title
  const Volume* labels;   // on the image's grid
};

struct PreviewOptions {
  std::optional<DisplayWindow> window;  // unset: choose_window
  OverlayStyle style = OverlayStyle::Fill;
  std::string title;      // above the picture (e.g. the case's name)
  int cell_pixels = 256;  // the longest side of a slice's picture
};

// Renders and writes the preview; returns the window used.
DisplayWindow write_preview(const Volume& image, const std::vector<LabelLayer>& layers, const std::string& png_path,
                            const PreviewOptions& options = {});

// The preview as RGB rows (top to bottom), for tests and for callers that embed it.
struct Picture {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;
};
Picture render_preview(const Volume& image, const std::vector<LabelLayer>& layers, const PreviewOptions& options, DisplayWindow* used = nullptr);

}  // namespace repux
