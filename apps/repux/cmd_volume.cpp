// Volume tools for getting data ready: `repux resample` (onto another image's grid or a spacing),
// `repux crop` (a voxel box, the affine kept exact) and `repux relabel` (merge atlas labels).
// They are what users otherwise do in a Python script with nibabel before training.
#include "commands.h"
#include "options.h"

#include "repux/data/labels.h"
#include "repux/error.h"
#include "repux/io/geometry.h"
#include "repux/io/volume_file.h"

#include <fmt/format.h>

namespace repux::cli {
namespace {

void print_written(const std::string& path, const Volume& v) {
  const auto s = v.spatial_shape();
  const auto sp = v.spacing();
  fmt::print("{}: {} x {} x {}, {:.4g} x {:.4g} x {:.4g} mm, {}\n", path, s[0], s[1], s[2], sp[0], sp[1], sp[2],
             enum_name(v.sample_type));
}

struct ResampleArgs {
  std::string input, output, like;
  std::vector<double> spacing;
  bool nearest = false;
};

void run_resample(const ResampleArgs& a) {
  if (a.like.empty() == a.spacing.empty()) fail("resample needs exactly one of --like or --spacing");
  ensure_writable_volume(a.output);
  refuse_writing_over_inputs({a.input, a.like}, a.output);
  Volume v = read_volume(a.input, allowing_channels());
  const auto interpolation = a.nearest ? Interpolation::Nearest : Interpolation::Linear;
  if (!a.like.empty()) {
    const Volume reference = read_volume(a.like, allowing_channels(/*nonfinite_too=*/true));
    v.data = resample_to_grid(v.data, v.affine, reference.affine, reference.spatial_shape(), interpolation);
    v.affine = reference.affine.clone();
  } else {
    v = resample_to_spacing(v, one_or_three(a.spacing, "--spacing"), interpolation);
  }
  write_volume(v, a.output);
  print_written(a.output, v);
}

// Parses one axis of a box: "a:b", "a:", ":b", ":" or "" (the whole axis); indices must lie in [0, n].
std::pair<int64_t, int64_t> parse_range(const std::string& text, int64_t n, int axis) {
  if (text.empty() || text == ":") return {0, n};
  const auto colon = text.find(':');
  if (colon == std::string::npos) fail("--box axis {}: expected start:stop, got '{}'", axis, text);
  auto number = [&](const std::string& s, int64_t fallback) -> int64_t {
    if (s.empty()) return fallback;
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != s.size()) fail("--box axis {}: '{}' is not an integer", axis, s);
    return value;
  };
  const int64_t start = number(text.substr(0, colon), 0), stop = number(text.substr(colon + 1), n);
  if (start < 0 || stop > n || start >= stop) {
    fail("--box axis {}: {}:{} is not a non-empty range inside 0:{}", axis, start, stop, n);
  }
  return {start, stop};
}

struct CropArgs {
  std::string input, output, box;
};

void run_crop(const CropArgs& a) {
  ensure_writable_volume(a.output);
  refuse_writing_over_inputs({a.input}, a.output);
  const Volume v = read_volume(a.input, allowing_channels());
  std::vector<std::string> parts;
  for (size_t begin = 0;;) {
    const auto comma = a.box.find(',', begin);
    parts.push_back(a.box.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  if (parts.size() != 3) fail("--box '{}': expected three comma-separated ranges like 0:90,:,10:", a.box);
  const auto shape = v.spatial_shape();
  std::array<int64_t, 3> start{}, size{};
  for (int i = 0; i < 3; ++i) {
    const auto [s, e] = parse_range(parts[i], shape[i], i);
    start[i] = s;
    size[i] = e - s;
  }
  const Volume out = crop_or_pad(v, start, size);
  write_volume(out, a.output);
  print_written(a.output, out);
}

struct RelabelArgs {
  std::string input, output, map;
  bool keep_unlisted = false;
};

void run_relabel(const RelabelArgs& a) {
  ensure_writable_volume(a.output);
  LabelMap map = read_label_map(a.map);
  map.keep_unlisted = a.keep_unlisted;
  refuse_writing_over_inputs({a.input, a.map}, a.output);
  Volume v = read_volume(a.input);
  try {
    v.data = remap_labels(v.data, map);
  } catch (const Error& e) {
    fail("{}: {}", a.input, e.what());
  }
  const int64_t max_label = v.data.max().item<int64_t>();
  v.sample_type = max_label <= 255 ? SampleType::UInt8 : max_label <= 32767 ? SampleType::Int16 : SampleType::Int32;
  v.scaling = {};
  write_volume(v, a.output);
  const auto counts = torch::bincount(v.data.flatten());
  fmt::print("{}: labels 0..{}, voxels per label:", a.output, max_label);
  for (int64_t l = 0; l < counts.size(0); ++l) fmt::print(" {}", counts[l].item<int64_t>());
  fmt::print("\n");
}

}  // namespace

void add_volume_commands(CLI::App& app) {
  auto ra = std::make_shared<ResampleArgs>();
  auto* r = app.add_subcommand("resample", "Resample a NIfTI onto another image's grid or to a spacing");
  r->add_option("input,-i,--input", ra->input, "NIfTI to resample")->required();
  r->add_option("-o,--output", ra->output, "NIfTI to write")->required();
  r->add_option("--like", ra->like, "Take the voxel grid (shape and affine) of this NIfTI");
  r->add_option("--spacing", ra->spacing, "New spacing in mm (1 or 3 values), same extent");
  r->add_flag("--nearest", ra->nearest, "Nearest-neighbour interpolation (for label maps)");
  r->callback([ra] { run_resample(*ra); });

  auto ca = std::make_shared<CropArgs>();
  auto* c = app.add_subcommand("crop", "Cut a voxel box out of a NIfTI (the affine follows, world positions kept)");
  c->add_option("input,-i,--input", ca->input, "NIfTI to crop")->required();
  c->add_option("-o,--output", ca->output, "NIfTI to write")->required();
  c->add_option("--box", ca->box, "Voxel ranges start:stop per axis, e.g. 0:90,:,: (stop excluded)")->required();
  c->callback([ca] { run_crop(*ca); });

  auto la = std::make_shared<RelabelArgs>();
  auto* l = app.add_subcommand("relabel", "Merge or renumber labels with a map file of 'old new' lines");
  l->add_option("input,-i,--input", la->input, "Label NIfTI")->required();
  l->add_option("-o,--output", la->output, "Label NIfTI to write")->required();
  l->add_option("--map", la->map, "Text file: one 'old new' pair per line, '#' comments")->required();
  l->add_flag("--keep-unlisted", la->keep_unlisted, "Labels not in the map keep their value (default: 0)");
  l->callback([la] { run_relabel(*la); });
}

}  // namespace repux::cli
