// `repux stats`: per-structure statistics of a label map over its image (volume, image values inside,
// bounding box, centroid), as a table on the terminal and as JSON or CSV (eval/structure_statistics.h).
#include "commands.h"
#include "options.h"

#include "repux/eval/structure_statistics.h"
#include "repux/io/atomic_file.h"
#include "repux/io/paths.h"
#include "repux/io/volume_file.h"

#include <fmt/format.h>

#include <cmath>

namespace repux::cli {
namespace {

struct StatsArgs {
  std::string image, labels, output;
  std::vector<std::string> class_names;  // background first; else the label map's own (a SEG's)
};

void print_table(const std::vector<StructureStatistics>& statistics) {
  fmt::print("{:>5}  {:<24} {:>10} {:>11} {:>9} {:>9} {:>9}  {}\n", "label", "structure", "voxels", "volume mL", "mean", "median", "std",
             "centroid RAS mm");
  for (const auto& s : statistics) {
    fmt::print("{:>5}  {:<24} {:>10} {:>11.3f} {:>9} {:>9} {:>9}  {}\n", s.label, s.name, s.voxels, s.volume_mm3 / 1000.0, fixed_or(s.mean, 1, "-"),
               fixed_or(s.median, 1, "-"), fixed_or(s.std, 1, "-"),
               s.voxels ? fmt::format("({:.1f}, {:.1f}, {:.1f})", s.centroid_ras[0], s.centroid_ras[1], s.centroid_ras[2]) : "-");
  }
}

void run_stats(const StatsArgs& a) {
  if (!a.output.empty()) {
    refuse_writing_over_inputs({a.image, a.labels}, a.output);
    if (!ends_with(a.output, ".json") && !ends_with(a.output, ".csv")) fail("-o {}: expected a .json or .csv file", a.output);
    ensure_writable(a.output);
  }
  const Volume image = read_volume(a.image, allowing_channels());
  Volume labels = read_label_volume(a.labels, image.grid());
  if (!a.class_names.empty()) labels.label_names = a.class_names;
  const auto statistics = structure_statistics(image, labels);
  print_table(statistics);
  if (!a.output.empty()) {
    write_statistics(statistics, a.output);
    fmt::print("wrote {}\n", a.output);
  }
}

}  // namespace

void add_stats_command(CLI::App& app) {
  auto sa = std::make_shared<StatsArgs>();
  auto* s = app.add_subcommand("stats", "Per-structure statistics: volume (mL), image values inside (HU for CT), bounding box, centroid");
  s->add_option("-i,--input,--image", sa->image, "The image (NIfTI or a DICOM series)")->required();
  s->add_option("-s,--segmentation,--pred", sa->labels, "The label map on the image's grid (NIfTI or a DICOM SEG)")->required();
  s->add_option("-o,--output", sa->output, "Also write them to a .json (TotalSegmentator's keys where they agree) or .csv file");
  s->add_option("--class-names", sa->class_names, "Class names, background first (a NIfTI names no labels)");
  s->callback([sa] { run_stats(*sa); });
}

}  // namespace repux::cli
