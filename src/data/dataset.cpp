#include "repux/data/dataset.h"

#include "repux/data/labels.h"
#include "repux/error.h"
#include "repux/io/json_file.h"
#include "repux/io/volume_file.h"
#include "repux/io/paths.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

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

// MSD: {"0": "background"}; nnU-Net v2: {"background": 0}. The labels must be 0..K-1, each once,
// since class names are matched to network outputs by position.
std::vector<std::string> class_names_from_json(const nlohmann::json& labels, const std::string& source) {
  std::map<int, std::string> by_index;
  for (const auto& [k, v] : labels.items()) {
    const int index = v.is_string() ? std::stoi(k) : v.get<int>();
    if (!by_index.emplace(index, v.is_string() ? v.get<std::string>() : k).second) fail("{}: label {} is listed twice", source, index);
  }
  std::vector<std::string> names;
  for (const auto& [i, name] : by_index) {
    if (i != static_cast<int>(names.size())) fail("{}: labels must be numbered 0, 1, 2, ... without gaps; found {}", source, i);
    names.push_back(name);
  }
  return names;
}

// Dataset JSONs carry free metadata (name, description, licence, ...), so unknown keys are kept quiet;
// a known key of the wrong type is an error naming the file and the field.
Dataset dataset_from_json(const nlohmann::json& j, const fs::path& base, const std::string& src) {
  Dataset d;
  const auto field = [&](const char* name) { return fmt::format("{}: field '{}'", src, name); };
  d.training = parse_list(j["training"], base, field("training"));
  if (j.contains("validation")) d.validation = parse_list(j["validation"], base, field("validation"));
  if (j.contains("test")) d.test = parse_list(j["test"], base, field("test"));
  if (j.contains("labels")) {
    if (!j["labels"].is_object()) fail("{}: expected an object of label names, got {}", field("labels"), j["labels"].type_name());
    d.class_names = class_names_from_json(j["labels"], field("labels"));
  }
  return d;
}

Dataset from_json(const fs::path& json_path, const std::string& root) {
  const nlohmann::json j = read_json_file(json_path.string());
  const fs::path base = root.empty() ? json_path.parent_path() : fs::path(root);
  const std::string src = json_path.string();
  if (!j.is_object() || !j.contains("training")) fail("{}: no \"training\" list", src);
  try {
    return dataset_from_json(j, base, src);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected content ({})", src, json_problem(e));
  } catch (const std::logic_error& e) {  // std::stoi on a label key that is not a number
    fail("{}: a label key is not a whole number ({})", src, e.what());
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

// nnU-Net's channel files of a case: CASE_0001.ext, CASE_0002.ext, ... as long as they exist.
std::vector<std::string> channel_files(const fs::path& images, const std::string& stem, const std::string& ext) {
  std::vector<std::string> out;
  for (int k = 1; k < 10000; ++k) {
    const fs::path file = images / fmt::format("{}_{:04d}{}", stem, k, ext);
    if (!fs::exists(file)) break;
    out.push_back(file.string());
  }
  return out;
}

Dataset from_nnunet_folder(const fs::path& dir) {
  Dataset d;
  for (const std::string& name : list_volume_files((dir / "imagesTr").string())) {
    const std::string ext = volume_suffix(name);
    std::string stem = volume_stem(name);
    if (ends_with(stem, "_0000")) stem.resize(stem.size() - 5);
    else if (stem.size() > 5 && stem[stem.size() - 5] == '_') continue;  // other channels of a multi-channel case
    CaseFiles c{(dir / "imagesTr" / name).string(), label_file(dir / "labelsTr", stem, ext), {}};
    if (ends_with(volume_stem(name), "_0000")) c.more_channels = channel_files(dir / "imagesTr", stem, ext);
    d.training.push_back(c);
  }
  if (fs::is_directory(dir / "imagesTs")) {
    for (const std::string& name : list_volume_files((dir / "imagesTs").string())) d.test.push_back({(dir / "imagesTs" / name).string(), "", {}});
  }
  return d;
}

}  // namespace

Dataset load_dataset(const std::string& path, const std::string& root) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return from_json(p, root);
  if (!fs::is_directory(p, ec)) fail("{}: no such dataset file or folder", path);
  if (fs::exists(p / "dataset.json")) {
    Dataset d = from_json(p / "dataset.json", root);
    if (!d.training.empty()) return d;
  }
  if (fs::is_directory(p / "imagesTr")) return from_nnunet_folder(p);
  fail("{}: expected a dataset.json or an imagesTr/labelsTr folder", path);
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

void split_folds(Dataset& d, int folds, int fold, uint64_t seed) {
  if (!d.validation.empty()) return;
  if (folds < 2 || fold < 0 || fold >= folds) fail("fold {} of {} is not valid", fold, folds);
  if (static_cast<int>(d.training.size()) < folds) fail("{} training cases cannot make {} folds", d.training.size(), folds);
  std::vector<CaseFiles> cases = d.training;
  std::shuffle(cases.begin(), cases.end(), std::mt19937_64(seed));
  d.training.clear();
  for (size_t i = 0; i < cases.size(); ++i) (static_cast<int>(i % folds) == fold ? d.validation : d.training).push_back(cases[i]);
}

std::vector<DatasetProblem> check_dataset(const std::vector<CaseFiles>& cases, int64_t classes) {
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
    const std::string problem = label_value_problem(label.data, classes);
    if (!problem.empty()) problems.push_back({c.label, problem});
  }
  return problems;
}

std::vector<DatasetProblem> check_dataset(const Dataset& dataset, int64_t classes) {
  std::vector<CaseFiles> all = dataset.training;
  all.insert(all.end(), dataset.validation.begin(), dataset.validation.end());
  return check_dataset(all, classes);
}

}  // namespace repux
