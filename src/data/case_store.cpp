#include "repux/data/case_store.h"

#include "repux/cpu_threads.h"
#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/json_file.h"
#include "repux/io/npy.h"
#include "repux/io/volume_file.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace repux {
namespace {

constexpr const char* kFormat = "repux case store";
constexpr int kVersion = 1;

std::string case_file(const std::string& dir, const std::string& id, const std::string& suffix) {
  return (fs::path(dir) / "cases" / (id + suffix)).string();
}

// ---- JSON of the parts of a record ----

nlohmann::json to_json(const Grid& g) {
  const auto a = g.affine.to(torch::kFloat64).contiguous();
  return {{"affine", std::vector<double>(a.data_ptr<double>(), a.data_ptr<double>() + 16)}, {"shape", g.shape}};
}

Grid grid_from_json(const nlohmann::json& j) {
  check_known_keys(j, {"affine", "shape"}, "a grid");
  const auto values = j.at("affine").get<std::vector<double>>();
  if (values.size() != 16) fail("an affine has {} values, expected 16", values.size());
  return {torch::tensor(values, torch::kFloat64).reshape({4, 4}), j.at("shape").get<std::array<int64_t, 3>>()};
}

nlohmann::json to_json(const PreprocessTrace& t) {
  return {{"original", to_json(t.original)},
          {"ras", to_json(t.ras)},
          {"resampled", to_json(t.resampled)},
          {"world_axis", t.orientation.world_axis},
          {"flipped", t.orientation.flipped},
          {"crop_start", t.crop_start},
          {"crop_size", t.crop_size}};
}

PreprocessTrace trace_from_json(const nlohmann::json& j) {
  check_known_keys(j, {"original", "ras", "resampled", "world_axis", "flipped", "crop_start", "crop_size"}, "a case's trace");
  PreprocessTrace t;
  t.original = grid_from_json(j.at("original"));
  t.ras = grid_from_json(j.at("ras"));
  t.resampled = grid_from_json(j.at("resampled"));
  t.orientation.world_axis = j.at("world_axis").get<std::array<int, 3>>();
  t.orientation.flipped = j.at("flipped").get<std::array<bool, 3>>();
  t.crop_start = j.at("crop_start").get<std::array<int64_t, 3>>();
  t.crop_size = j.at("crop_size").get<std::array<int64_t, 3>>();
  return t;
}

// What identifies a source file's content cheaply: its size and modification time.
nlohmann::json file_stamp(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return nullptr;
  return {{"bytes", size}, {"modified", fs::last_write_time(path, ec).time_since_epoch().count()}};
}

nlohmann::json source_json(const CaseFiles& f) {
  nlohmann::json j = {{"image", f.image}, {"label", f.label}, {"image_stamp", file_stamp(f.image)}, {"label_stamp", file_stamp(f.label)}};
  if (!f.more_channels.empty()) {
    j["more_channels"] = f.more_channels;
    for (const auto& file : f.more_channels) j["more_channel_stamps"].push_back(file_stamp(file));
  }
  return j;
}

nlohmann::json record_json(const StoredCase& c, const CaseFiles& files) {
  return {{"id", c.id},          {"source", source_json(files)}, {"channels", c.channels},         {"shape", c.shape},
          {"trace", to_json(c.trace)}, {"class_voxels", c.class_voxels}, {"sample_counts", c.sample_counts}};
}

StoredCase record_from_json(const nlohmann::json& j) {
  check_known_keys(j, {"id", "source", "channels", "shape", "trace", "class_voxels", "sample_counts"}, "a case record");
  StoredCase c;
  c.id = j.at("id").get<std::string>();
  const auto& source = j.at("source");
  check_known_keys(source, {"image", "label", "image_stamp", "label_stamp", "more_channels", "more_channel_stamps"}, "a case's source");
  c.source = {source.at("image").get<std::string>(), source.at("label").get<std::string>(),
              source.value("more_channels", std::vector<std::string>{})};
  c.channels = j.at("channels").get<int64_t>();
  c.shape = j.at("shape").get<std::array<int64_t, 3>>();
  c.trace = trace_from_json(j.at("trace"));
  c.class_voxels = j.at("class_voxels").get<std::vector<int64_t>>();
  c.sample_counts = j.at("sample_counts").get<std::vector<int64_t>>();
  return c;
}

// ---- writing ----

// "ignore_label": the dataset's ignore label (stored as the value `classes`), or null.
nlohmann::json store_header(const PreprocessRecipe& recipe, int64_t classes, std::optional<int64_t> ignore) {
  return {{"format", kFormat}, {"version", kVersion}, {"recipe", to_json(recipe)}, {"classes", classes},
          {"ignore_label", ignore ? nlohmann::json(*ignore) : nlohmann::json()}};
}

// Label values kept: 0..classes-1, and `classes` for the ignore label.
torch::ScalarType label_type(int64_t classes, bool ignore) { return classes + (ignore ? 1 : 0) <= 256 ? torch::kUInt8 : torch::kInt16; }

// The store's header, checked against the recipe and classes of this run; a store made otherwise is
// refused or, with overwrite, emptied.
void open_for_writing(const std::string& dir, const nlohmann::json& header, bool overwrite, const std::vector<std::string>& own_files) {
  fs::create_directories(fs::path(dir) / "cases");
  const std::string header_path = (fs::path(dir) / "store.json").string();
  if (fs::exists(header_path)) {
    const nlohmann::json old = read_json_file(header_path);
    std::string differs;
    for (const char* field : {"format", "version", "recipe", "classes", "ignore_label"}) {
      if (old.value(field, nlohmann::json()) != header[field]) differs = field;
    }
    if (!differs.empty() && !overwrite) {
      fail("{}: was preprocessed with another {} ({} there, {} now); pass --overwrite to redo it, or choose another folder", dir, differs,
           old.value(differs, nlohmann::json()).dump(), header[differs].dump());
    }
    if (!differs.empty()) {
      fs::remove_all(fs::path(dir) / "cases");
      fs::create_directories(fs::path(dir) / "cases");
    }
  }
  fs::remove(fs::path(dir) / "index.json");  // a store being written has no index: it cannot be trained from
  remove_abandoned_temporaries((fs::path(dir) / "cases").string(), own_files);
  write_json_file(header, header_path);
}

// One id per case, from its image's file name, unique in the store.
std::vector<std::string> case_ids(const std::vector<CaseFiles>& cases) {
  std::vector<std::string> ids;
  std::set<std::string> taken;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string id = volume_stem(fs::path(cases[i].image).filename().string());
    if (id.empty() || taken.count(id)) id += "_" + std::to_string(i);
    taken.insert(id);
    ids.push_back(id);
  }
  return ids;
}

bool case_is_finished(const std::string& dir, const std::string& id, const CaseFiles& files) {
  const std::string record = case_file(dir, id, ".json");
  if (!fs::exists(record)) return false;
  try {
    return read_json_file(record).at("source") == source_json(files);
  } catch (const std::exception&) {
    return false;  // an unreadable record: the case is done again
  }
}

void preprocess_case(const std::string& dir, const std::string& id, const CaseFiles& files, const PreprocessRecipe& recipe, int64_t classes,
                     std::optional<int64_t> ignore, int64_t per_class) {
  if (files.label.empty()) fail("{}: training case has no label", files.image);
  const Volume image = read_case_image(files);
  const Volume label = read_label_volume(files.label, image.grid());
  PreparedCase c = preprocess(image, recipe, &label);
  const auto ignored = ignore ? c.label == *ignore : torch::zeros_like(c.label, torch::kBool);
  const int64_t top = c.label.masked_fill(ignored, 0).max().item<int64_t>();
  if (top >= classes) fail("{}: label {} >= number of classes {}", files.label, top, classes);
  c.label.masked_fill_(ignored, classes);
  StoredCase record;
  record.id = id;
  record.channels = c.image.size(0);
  record.shape = {c.label.size(0), c.label.size(1), c.label.size(2)};
  record.trace = c.trace;
  const ForegroundSample sample = sample_foreground(c.label.masked_fill(ignored, 0), classes, per_class);
  record.class_voxels = sample.class_voxels;
  record.sample_counts = sample.sample_counts;
  write_npy(c.image, case_file(dir, id, "_image.npy"));
  write_npy(c.label.to(label_type(classes, ignore.has_value())), case_file(dir, id, "_label.npy"));
  write_npy(sample.positions, case_file(dir, id, "_foreground.npy"));
  write_json_file(record_json(record, files), case_file(dir, id, ".json"));  // last: the case is finished
}

}  // namespace

PreprocessSummary preprocess_to_store(const Dataset& dataset, const PreprocessRecipe& recipe, int64_t classes, const std::string& dir,
                                      const PreprocessToStoreOptions& options) {
  if (classes < 2 || classes > 32767) fail("number of classes {} is out of range, expected 2 to 32767", classes);
  std::vector<CaseFiles> cases = dataset.training;
  cases.insert(cases.end(), dataset.validation.begin(), dataset.validation.end());
  if (cases.empty()) fail("{}: the dataset has no training cases", dir);
  const auto [shard, shards] = options.shard;
  if (shard < 1 || shard > shards) fail("shard {}/{}: expected K/N with 1 <= K <= N", shard, shards);
  if (shards > 1 && options.overwrite) fail("{}: --overwrite cannot be combined with a shard (run it once without --shard)", dir);
  const auto ids = case_ids(cases);
  std::vector<size_t> mine;
  std::vector<std::string> own_files;
  for (size_t i = static_cast<size_t>(shard - 1); i < cases.size(); i += static_cast<size_t>(shards)) {
    mine.push_back(i);
    if (shards > 1)
      for (const char* suffix : {"_image.npy", "_label.npy", "_foreground.npy", ".json"}) own_files.push_back(ids[i] + suffix);
  }
  open_for_writing(dir, store_header(recipe, classes, dataset.ignore_label), options.overwrite, own_files);

  PreprocessSummary summary;
  summary.cases = mine.size();
  summary.dataset_cases = cases.size();
  std::vector<size_t> todo;
  for (const size_t i : mine) {
    if (case_is_finished(dir, ids[i], cases[i])) ++summary.kept;
    else todo.push_back(i);
  }
  size_t done = summary.kept;
  if (options.on_progress) options.on_progress(done, mine.size());
  for_each_on_threads(
      todo.size(), options.threads,
      [&](size_t k) { preprocess_case(dir, ids[todo[k]], cases[todo[k]], recipe, classes, dataset.ignore_label, options.foreground_per_class); },
      [&] {
        ++summary.preprocessed;
        if (options.on_progress) options.on_progress(++done, mine.size());
      });
  for (size_t i = 0; i < cases.size(); ++i) summary.unfinished += !case_is_finished(dir, ids[i], cases[i]);
  if (summary.unfinished > 0) return summary;  // the other shards' cases are still to come

  nlohmann::json index = store_header(recipe, classes, dataset.ignore_label);
  index["cases"] = nlohmann::json::array();
  for (size_t i = 0; i < cases.size(); ++i) index["cases"].push_back(read_json_file(case_file(dir, ids[i], ".json")));
  auto names = [](const std::vector<CaseFiles>& list) {
    std::vector<std::string> out;
    for (const auto& f : list) out.push_back(f.image);
    return out;
  };
  index["training"] = names(dataset.training);
  index["validation"] = names(dataset.validation);
  index["class_names"] = dataset.class_names;
  if (!dataset.regions.empty()) index["regions"] = to_json(dataset.regions);
  write_json_file(index, (fs::path(dir) / "index.json").string());
  summary.indexed = true;
  return summary;
}

bool is_case_store(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(path) / "store.json", ec);
}

// ---- reading ----

namespace {

void check_shape(const MappedNpy& file, std::vector<int64_t> expected, torch::ScalarType dtype) {
  const auto& t = file.tensor();
  if (t.sizes().vec() != expected || t.scalar_type() != dtype) {
    fail("{}: holds {} {}, expected {} {} (the store is damaged; run repux preprocess again)", file.path(), c10::toString(t.scalar_type()),
         fmt::join(t.sizes(), "x"), c10::toString(dtype), fmt::join(expected, "x"));
  }
}

}  // namespace

CaseStore::CaseStore(const std::string& dir) : folder_(dir) {
  const std::string index_path = (fs::path(dir) / "index.json").string();
  if (!fs::exists(index_path)) {
    fail("{}: not a finished case store (no index.json); run `repux preprocess` (again) to finish it", dir);
  }
  const nlohmann::json index = read_json_file(index_path);
  try {
    check_known_keys(index, {"format", "version", "recipe", "classes", "ignore_label", "cases", "training", "validation", "class_names",
                      "regions"},
                     "the store index");
    if (index.at("format") != kFormat || index.at("version") != kVersion) {
      fail("not a case store of version {} (format {} version {})", kVersion, index.at("format").dump(), index.at("version").dump());
    }
    recipe_ = preprocess_recipe_from_json(index.at("recipe"));
    classes_ = index.at("classes").get<int64_t>();
    if (index.contains("ignore_label") && !index["ignore_label"].is_null()) dataset_.ignore_label = index["ignore_label"].get<int64_t>();
    for (const auto& r : index.at("cases")) cases_.push_back(record_from_json(r));
    for (const auto& image : index.at("training")) dataset_.training.push_back(cases_.at(find(image.get<std::string>())).source);
    for (const auto& image : index.at("validation")) dataset_.validation.push_back(cases_.at(find(image.get<std::string>())).source);
    dataset_.class_names = index.at("class_names").get<std::vector<std::string>>();
    if (index.contains("regions")) dataset_.regions = label_regions_from_json(index["regions"], "regions");
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected content ({})", index_path, json_problem(e));
  } catch (const Error& e) {
    fail("{}: {}", index_path, e.what());
  }
  if (classes_ < 2 || classes_ > 32767) fail("{}: number of classes {} is out of range", index_path, classes_);
  const auto stored_type = label_type(classes_, dataset_.ignore_label.has_value());
  for (const auto& c : cases_) {
    if (c.class_voxels.size() != static_cast<size_t>(classes_) || c.sample_counts.size() != static_cast<size_t>(classes_)) {
      fail("{}: case {} has {} class counts, expected {}", index_path, c.id, c.class_voxels.size(), classes_);
    }
    images_.push_back(std::make_unique<MappedNpy>(case_file(dir, c.id, "_image.npy")));
    labels_.push_back(std::make_unique<MappedNpy>(case_file(dir, c.id, "_label.npy")));
    foreground_files_.push_back(std::make_unique<MappedNpy>(case_file(dir, c.id, "_foreground.npy")));
    check_shape(*images_.back(), {c.channels, c.shape[0], c.shape[1], c.shape[2]}, torch::kFloat32);
    check_shape(*labels_.back(), {c.shape[0], c.shape[1], c.shape[2]}, stored_type);
    int64_t rows = 0;
    for (size_t k = 0; k < c.sample_counts.size(); ++k) {
      if (c.sample_counts[k] < 0 || c.sample_counts[k] > c.class_voxels[k] || (c.class_voxels[k] > 0 && c.sample_counts[k] == 0)) {
        fail("{}: case {}: class {} has {} sampled of {} voxels", index_path, c.id, k, c.sample_counts[k], c.class_voxels[k]);
      }
      rows += c.sample_counts[k];
    }
    check_shape(*foreground_files_.back(), {rows, 3}, torch::kInt32);
    ForegroundSample s;
    s.positions = foreground_files_.back()->tensor();
    s.class_voxels = c.class_voxels;
    s.sample_counts = c.sample_counts;
    samples_.push_back(std::move(s));
  }
  checked_ = std::vector<std::atomic<bool>>(cases_.size());
}

CaseStore::~CaseStore() = default;

size_t CaseStore::find(const std::string& source_image) const {
  for (size_t i = 0; i < cases_.size(); ++i) {
    if (cases_[i].source.image == source_image) return i;
  }
  fail("{}: the store holds no case made from {}", folder_, source_image);
}

PreparedCase CaseStore::read(size_t index) const {
  PreparedCase c;
  c.image = images_.at(index)->tensor().clone();
  c.label = labels_.at(index)->tensor().to(torch::kInt64);
  c.trace = cases_.at(index).trace;
  const int64_t top = c.label.numel() ? c.label.max().item<int64_t>() : 0;
  if (top > top_label()) fail("{}: label {} >= number of classes {} (the store is damaged)", labels_[index]->path(), top, classes_);
  return c;
}

const ForegroundSample& CaseStore::foreground(size_t index) const {
  // The sample's positions are checked once, when first used (at start-up only the index is read).
  if (!checked_.at(index).load()) {
    const auto& p = samples_[index].positions;
    const auto& shape = cases_[index].shape;
    for (int a = 0; a < 3; ++a) {
      if (p.size(0) == 0) break;
      const auto column = p.select(1, a);
      if (column.min().item<int64_t>() < 0 || column.max().item<int64_t>() >= shape[a]) {
        fail("{}: a foreground position lies outside the case's {}x{}x{} voxels (the store is damaged)", foreground_files_[index]->path(), shape[0],
             shape[1], shape[2]);
      }
    }
    checked_[index] = true;
  }
  return samples_[index];
}

Crop CaseStore::crop(size_t index, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size) const {
  Crop c{crop_or_pad(images_.at(index)->tensor(), start, size, 0.0), crop_or_pad(labels_.at(index)->tensor(), start, size, 0.0).to(torch::kInt64)};
  if (c.label.max().item<int64_t>() > top_label()) {
    fail("{}: label {} >= number of classes {} (the store is damaged)", labels_[index]->path(), c.label.max().item<int64_t>(), classes_);
  }
  if (!torch::isfinite(c.image).all().item<bool>()) fail("{}: holds non-finite values (the store is damaged)", images_[index]->path());
  return c;
}

namespace {

class StoreCropSource : public CropSource {
 public:
  StoreCropSource(std::shared_ptr<const CaseStore> store, std::vector<size_t> indices) : store_(std::move(store)), indices_(std::move(indices)) {}
  size_t size() const override { return indices_.size(); }
  std::array<int64_t, 3> shape(size_t i) const override { return store_->cases().at(indices_.at(i)).shape; }
  const ForegroundSample& foreground(size_t i) const override { return store_->foreground(indices_.at(i)); }
  Crop crop(size_t i, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size) const override {
    return store_->crop(indices_.at(i), start, size);
  }

 private:
  std::shared_ptr<const CaseStore> store_;
  std::vector<size_t> indices_;
};

}  // namespace

std::shared_ptr<const CropSource> store_crop_source(std::shared_ptr<const CaseStore> store, std::vector<size_t> indices) {
  return std::make_shared<StoreCropSource>(std::move(store), std::move(indices));
}

}  // namespace repux
