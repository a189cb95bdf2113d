#include "repux/data/dataset.h"

#include "repux/data/labels.h"
#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/io/volume_file.h"
#include "repux/io/paths.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace repux {
namespace {

std::vector<CaseFiles> parse_list(const nlohmann::json& list, const fs::path& root, const std::string& source) {
  std::vector<CaseFiles> out;
  if (!list.is_array()) fail("{}: not a JSON array of cases, got {}", source, list.type_name());
  for (const auto& e : list) {
    CaseFiles c;
    if (e.is_string()) {
      c.image = (root / e.get<std::string>()).lexically_normal().string();
    } else if (e.is_object() && e.contains("image") && e["image"].is_array() && !e["image"].empty()) {
      for (const auto& file : e["image"]) c.more_channels.push_back((root / file.get<std::string>()).lexically_normal().string());
      c.image = c.more_channels.front();
      c.more_channels.erase(c.more_channels.begin());
      if (e.contains("label")) c.label = (root / e["label"].get<std::string>()).lexically_normal().string();
    } else if (e.is_object() && e.contains("image")) {
      c.image = (root / e["image"].get<std::string>()).lexically_normal().string();
      if (e.contains("label")) c.label = (root / e["label"].get<std::string>()).lexically_normal().string();
    } else {
      fail("{}: an entry is neither a path nor an {{\"image\", \"label\"}} object", source);
    }
    out.push_back(c);
  }
  return out;
}

// MSD (v1): {"0": "background", "1": "liver"}; nnU-Net v2: {"background": 0, "liver": 1, "ignore": 3}.
// Plain labels must be 0..K-1, each once, since class names are matched to network outputs by position;
// "ignore" is the value no loss or metric scores, and must be above every class (nnU-Net's rule).
void read_plain_labels(const nlohmann::ordered_json& labels, const std::string& source, Dataset& d) {
  std::map<int64_t, std::string> by_index;
  for (const auto& [k, v] : labels.items()) {
    if (k == "ignore" && v.is_number_integer()) continue;
    const int64_t index = v.is_string() ? std::stoll(k) : v.is_array() ? v.at(0).get<int64_t>() : v.get<int64_t>();
    if (!by_index.emplace(index, v.is_string() ? v.get<std::string>() : k).second) fail("{}: label {} is listed twice", source, index);
  }
  for (const auto& [i, name] : by_index) {
    if (i != static_cast<int64_t>(d.class_names.size())) fail("{}: labels must be numbered 0, 1, 2, ... without gaps; found {}", source, i);
    d.class_names.push_back(name);
  }
}

// Region-based labels (some label a list of two or more values): every foreground label is a region,
// in the file's order, painted back as the matching entry of "regions_class_order" (nnU-Net's rule).
void read_region_labels(const nlohmann::ordered_json& labels, const nlohmann::json& class_order, const std::string& source, Dataset& d) {
  for (const auto& [k, v] : labels.items()) {
    if (k == "ignore" && v.is_number_integer()) continue;
    const auto values = v.is_array() ? v.get<std::vector<int64_t>>() : std::vector<int64_t>{v.get<int64_t>()};
    if (values == std::vector<int64_t>{0}) continue;  // background
    d.regions.regions.push_back({k, values, 0});
  }
  const auto order = class_order.is_null() ? std::vector<int64_t>{} : class_order.get<std::vector<int64_t>>();
  if (order.size() != d.regions.regions.size()) {
    fail("{}: {} region(s) need a 'regions_class_order' of as many label values, got {}", source, d.regions.regions.size(), order.size());
  }
  for (size_t r = 0; r < order.size(); ++r) d.regions.regions[r].paints = order[r];
  check_label_regions(d.regions, source);
  d.class_names = d.regions.names_with_background();
}

void read_labels(const nlohmann::ordered_json& labels, const nlohmann::json& class_order, const std::string& source, Dataset& d) {
  bool regions = false;
  for (const auto& [k, v] : labels.items()) regions = regions || (v.is_array() && v.size() > 1);
  if (labels.contains("ignore") && labels["ignore"].is_number_integer()) d.ignore_label = labels["ignore"].get<int64_t>();
  if (regions) read_region_labels(labels, class_order, source, d);
  else read_plain_labels(labels, source, d);
  const int64_t top = regions ? d.regions.label_classes() : static_cast<int64_t>(d.class_names.size());
  if (d.ignore_label && *d.ignore_label < top) {
    fail("{}: the ignore label {} must be above every class (0..{}), as nnU-Net requires", source, *d.ignore_label, top - 1);
  }
}

// "channel_names" (v2) or "modality" (v1): {"0": "CT", "1": "T2"}, the keys the channel order.
std::vector<std::string> channel_names_from_json(const nlohmann::json& names, const std::string& source) {
  if (!names.is_object()) fail("{}: expected an object {{\"0\": \"CT\", ...}}, got {}", source, names.type_name());
  std::map<int64_t, std::string> by_index;
  for (const auto& [k, v] : names.items()) by_index[std::stoll(k)] = v.get<std::string>();
  std::vector<std::string> out;
  for (const auto& [i, name] : by_index) {
    if (i != static_cast<int64_t>(out.size())) fail("{}: channels must be numbered 0, 1, 2, ... without gaps; found {}", source, i);
    out.push_back(name);
  }
  return out;
}

// What a dataset.json says of the data, v1 or v2; unknown keys (name, description, licence, ...) are
// free metadata and kept quiet; a known key of the wrong type is an error naming the file and field.
// `ordered_labels`: "labels" in the file's order (the order of the regions).
void read_description(const nlohmann::json& j, const nlohmann::ordered_json& ordered_labels, const std::string& src, Dataset& d) {
  const auto field = [&](const char* name) { return fmt::format("{}: field '{}'", src, name); };
  if (j.contains("labels")) {
    if (!j["labels"].is_object()) fail("{}: expected an object of label names, got {}", field("labels"), j["labels"].type_name());
    read_labels(ordered_labels, j.value("regions_class_order", nlohmann::json()), field("labels"), d);
  }
  for (const char* key : {"channel_names", "modality"}) {
    if (j.contains(key) && d.channel_names.empty()) d.channel_names = channel_names_from_json(j[key], field(key));
  }
  d.file_ending = field_or<std::string>(j, "file_ending", "");
  if (!d.file_ending.empty() && !is_volume_path("x" + d.file_ending)) {
    fail("{}: file_ending '{}' is not a format repux reads, expected {}", field("file_ending"), d.file_ending, volume_path_kinds());
  }
}

// labelsTr/<stem> in the image's format, or in another (a DICOM SEG beside NIfTI images, say).
std::string label_file(const fs::path& labels, const std::string& stem, const std::string& image_suffix) {
  const fs::path same = labels / (stem + image_suffix);
  if (fs::exists(same)) return same.string();
  for (const char* suffix : {".nii.gz", ".nii", ".dcm"}) {
    if (fs::exists(labels / (stem + suffix))) return (labels / (stem + suffix)).string();
  }
  return same.string();
}

// nnU-Net's raw layout: imagesTr/CASE_XXXX.ext with labelsTr/CASE.ext, and imagesTs/ when present.
void read_nnunet_folder(const fs::path& dir, Dataset& d) {
  for (CaseFiles c : cases_in_folder((dir / "imagesTr").string(), d.file_ending)) {
    c.label = label_file(dir / "labelsTr", case_identifier(c), volume_suffix(c.image));
    d.training.push_back(c);
  }
  if (fs::is_directory(dir / "imagesTs")) d.test = cases_in_folder((dir / "imagesTs").string(), d.file_ending);
}

// numTraining against the cases found, naming the images without a label and the labels without an image.
void check_case_count(const nlohmann::json& j, const fs::path& dir, const Dataset& d, const std::string& src) {
  std::set<std::string> ids, labelled;
  std::string unlabelled, orphans;
  for (const auto& c : d.training) {
    const std::string id = case_identifier(c);
    ids.insert(id);
    if (fs::exists(c.label)) labelled.insert(id);
    else unlabelled += (unlabelled.empty() ? "" : ", ") + id;
  }
  if (fs::is_directory(dir / "labelsTr")) {
    for (const auto& name : list_volume_files((dir / "labelsTr").string())) {
      if (!ids.count(volume_stem(name))) orphans += (orphans.empty() ? "" : ", ") + name;
    }
  }
  const int64_t expected = field_or<int64_t>(j, "numTraining", static_cast<int64_t>(d.training.size()));
  if (expected == static_cast<int64_t>(labelled.size()) && unlabelled.empty()) return;
  std::string detail;
  if (!unlabelled.empty()) detail += "; no label in labelsTr/ for " + unlabelled;
  if (!orphans.empty()) detail += "; no image in imagesTr/ for labelsTr/" + orphans;
  fail("{}: numTraining is {} but imagesTr/ and labelsTr/ hold {} labelled case(s){}", src, expected, labelled.size(), detail);
}

// The "labels" of a dataset.json (already read as JSON) in the file's order; null when it has none.
nlohmann::ordered_json ordered_labels(const fs::path& json_path) {
  std::ifstream in(json_path);
  const auto j = nlohmann::ordered_json::parse(in, nullptr, false);
  return j.is_object() && j.contains("labels") ? j["labels"] : nlohmann::ordered_json();
}

Dataset from_json(const fs::path& json_path, const std::string& root) {
  const nlohmann::json j = read_json_file(json_path.string());
  const fs::path base = root.empty() ? json_path.parent_path() : fs::path(root);
  const std::string src = json_path.string();
  if (!j.is_object()) fail("{}: expected a JSON object describing the dataset, got {}", src, j.type_name());
  if (!j.contains("training") && !fs::is_directory(base / "imagesTr")) {
    fail("{}: no \"training\" list, and no imagesTr/ folder beside it (nnU-Net v2's layout)", src);
  }
  try {
    Dataset d;
    d.description = src;
    read_description(j, ordered_labels(json_path), src, d);
    if (j.contains("training")) {  // v1 / MSD / the official lists: the JSON names the files
      d.training = parse_list(j["training"], base, src + ": field 'training'");
      if (j.contains("validation")) d.validation = parse_list(j["validation"], base, src + ": field 'validation'");
      if (j.contains("test")) d.test = parse_list(j["test"], base, src + ": field 'test'");
      return d;
    }
    read_nnunet_folder(base, d);  // v2: the folder holds the files, the JSON says what they mean
    check_case_count(j, base, d, src);
    return d;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected content ({})", src, json_problem(e));
  } catch (const std::logic_error& e) {  // std::stoll on a label or channel key that is not a number
    fail("{}: a label or channel key is not a whole number ({})", src, e.what());
  }
}

// "_0001" -> 1; -1 when the stem does not end in an underscore and four digits.
int channel_of(const std::string& stem) {
  if (stem.size() < 6 || stem[stem.size() - 5] != '_') return -1;
  int k = 0;
  for (size_t i = stem.size() - 4; i < stem.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(stem[i]))) return -1;
    k = 10 * k + (stem[i] - '0');
  }
  return k;
}

}  // namespace

Dataset read_dataset_description(const std::string& json_path) {
  const nlohmann::json j = read_json_file(json_path);
  if (!j.is_object()) fail("{}: expected a JSON object describing the dataset, got {}", json_path, j.type_name());
  Dataset d;
  d.description = json_path;
  read_description(j, ordered_labels(json_path), json_path, d);
  return d;
}

Dataset load_dataset(const std::string& path, const std::string& root) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return from_json(p, root);
  if (!fs::is_directory(p, ec)) fail("{}: no such dataset file or folder", path);
  if (fs::exists(p / "dataset.json")) return from_json(p / "dataset.json", root);
  if (fs::is_directory(p / "imagesTr")) {
    Dataset d;
    read_nnunet_folder(p, d);
    return d;
  }
  fail("{}: expected a dataset.json or an imagesTr/labelsTr folder", path);
}

std::string case_identifier(const CaseFiles& f) {
  std::string stem = volume_stem(fs::path(f.image).filename().string());
  if (channel_of(stem) == 0) stem.resize(stem.size() - 5);
  return stem;
}

std::vector<CaseFiles> cases_in_folder(const std::string& folder, const std::string& file_ending, int64_t channels) {
  std::vector<std::string> names;
  for (const auto& name : list_volume_files(folder)) {
    if (file_ending.empty() || ends_with(name, file_ending)) names.push_back(name);
  }
  const std::set<std::string> present(names.begin(), names.end());
  const bool nnunet = std::any_of(names.begin(), names.end(), [](const std::string& n) { return channel_of(volume_stem(n)) == 0; });
  std::vector<CaseFiles> cases;
  for (const auto& name : names) {
    const std::string stem = volume_stem(name), ext = volume_suffix(name);
    if (nnunet && channel_of(stem) != 0) continue;
    CaseFiles c{(fs::path(folder) / name).string(), "", {}};
    const std::string id = case_identifier(c);
    for (int k = 1; nnunet && present.count(fmt::format("{}_{:04d}{}", id, k, ext)); ++k) {
      c.more_channels.push_back((fs::path(folder) / fmt::format("{}_{:04d}{}", id, k, ext)).string());
    }
    cases.push_back(c);
  }
  int64_t most = channels;
  for (const auto& c : cases) most = std::max<int64_t>(most, 1 + static_cast<int64_t>(c.more_channels.size()));
  for (const auto& c : cases) {
    const int64_t has = 1 + static_cast<int64_t>(c.more_channels.size());
    if (has < most) {
      const std::string id = case_identifier(c);
      fail("{}: case {} has {} channel(s), {} expected: no {}_{:04d}{}", folder, id, has, most, id, has, volume_suffix(c.image));
    }
  }
  return cases;
}

Intensity intensity_for_channel(const std::string& channel_name) {
  std::string name = channel_name;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (name == "ct") return Intensity::Ct;
  if (name == "nonorm") return Intensity::None;
  if (name == "rescale_to_0_1") return Intensity::Rescale;
  if (name == "rgb_to_0_1") return Intensity::Rgb;
  return Intensity::ZScore;
}

Volume read_case_image(const CaseFiles& f) {
  Volume image = read_volume(f.image, allowing_channels());
  if (f.more_channels.empty()) return image;
  std::vector<torch::Tensor> channels{image.data.dim() == 4 ? image.data.to(torch::kFloat32) : image.data.unsqueeze(0).to(torch::kFloat32)};
  for (const auto& file : f.more_channels) {
    const Volume more = read_volume(file, allowing_channels());
    if (more.spatial_shape() != image.spatial_shape() || !torch::allclose(more.affine, image.affine, 1e-4, 1e-3)) {
      fail("{}: a channel of {} on another grid (shape or affine differ)", file, f.image);
    }
    channels.push_back(more.data.dim() == 4 ? more.data.to(torch::kFloat32) : more.data.unsqueeze(0).to(torch::kFloat32));
  }
  image.data = torch::cat(channels, 0);
  return image;
}

std::vector<DatasetProblem> check_dataset(const std::vector<CaseFiles>& cases, int64_t classes, std::optional<int64_t> ignore_label) {
  std::vector<DatasetProblem> problems;
  for (const auto& c : cases) {
    Volume image, label;
    try {
      image = read_case_image(c);
    } catch (const Error& e) {
      problems.push_back({c.image, e.what()});
      continue;
    }
    if (image.data.max().item<double>() == image.data.min().item<double>()) {
      problems.push_back({c.image, "image is constant (empty)"});
    }
    if (c.label.empty()) continue;
    try {
      label = read_label_volume(c.label, image.grid());
    } catch (const Error& e) {
      problems.push_back({c.label, e.what()});
      continue;
    }
    const auto si = image.spatial_shape(), sl = label.spatial_shape();
    if (si != sl) {
      problems.push_back({c.label, fmt::format("shape {}x{}x{} differs from its image's {}x{}x{}", sl[0], sl[1], sl[2], si[0], si[1], si[2])});
      continue;
    }
    if (!torch::allclose(image.affine, label.affine, 1e-4, 1e-3)) problems.push_back({c.label, "affine differs from its image's"});
    const auto values = ignore_label ? label.data.masked_fill(label.data == static_cast<double>(*ignore_label), 0) : label.data;
    const std::string problem = label_value_problem(values, classes);
    if (!problem.empty()) problems.push_back({c.label, problem});
  }
  return problems;
}

std::vector<DatasetProblem> check_dataset(const Dataset& dataset, int64_t classes) {
  std::vector<CaseFiles> all = dataset.training;
  all.insert(all.end(), dataset.validation.begin(), dataset.validation.end());
  return check_dataset(all, classes, dataset.ignore_label);
}

int64_t dataset_classes(const Dataset& dataset, std::optional<int64_t> given, const std::string& source) {
  // With regions, the label values the files hold.
  const int64_t named = !dataset.regions.empty() ? dataset.regions.label_classes() : static_cast<int64_t>(dataset.class_names.size());
  if (given && named >= 2 && *given != named) {
    fail("--classes {} contradicts {}, whose labels name {} classes (background included)", *given, source, named);
  }
  if (given) return *given;
  return named >= 2 ? named : 0;
}

}  // namespace repux
