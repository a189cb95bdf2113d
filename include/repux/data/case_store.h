#pragma once
// A case store: every case of a dataset preprocessed once, on disk, read by random crop without
// loading a whole case (nnU-Net's preprocessed folder, in repux's recipe).
//
// Layout of STORE/:
//   store.json                 the recipe and number of classes the store was made with (written first)
//   cases/<id>_image.npy       float32 [C, D, H, W], the preprocessed image
//   cases/<id>_label.npy       uint8 (int16 beyond 256 classes) [D, H, W]; the ignore label as the value K
//   cases/<id>_foreground.npy  int32 [N, 3], the foreground sample (repux/data/crop_source.h)
//   cases/<id>.json            the case's record: source files, shapes, trace, class voxels (written last:
//                              a case whose record exists is finished)
//   index.json                 every record and the dataset's lists, written when all cases are done;
//                              a trainer reads this and nothing else at start-up
// Plain .npy arrays: memory-mapped with no decoding (a crop reads only its pages, which are file-backed
// and shared by every rank and worker), readable by NumPy (np.load(..., mmap_mode="r")), and each file
// is written under a temporary name and renamed, so an interrupted run leaves finished cases whole.
#include "repux/data/crop_source.h"
#include "repux/data/dataset.h"
#include "repux/data/preprocess.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace repux {

class MappedNpy;

struct StoredCase {
  std::string id;
  CaseFiles source;
  int64_t channels = 1;
  std::array<int64_t, 3> shape{};
  PreprocessTrace trace;
  std::vector<int64_t> class_voxels, sample_counts;
};

struct PreprocessToStoreOptions {
  int threads = 1;         // cases preprocessed at once (each with one LibTorch thread)
  bool overwrite = false;  // a store made with another recipe or class count is emptied and redone
  int64_t foreground_per_class = 2000;
  // This process's share {K, N} of the cases (every N-th from the K-th, K from 1), for several machines
  // writing one store on shared storage; {1, 1}: all of them.
  std::pair<int64_t, int64_t> shard{1, 1};
  std::function<void(size_t done, size_t total)> on_progress;
};

struct PreprocessSummary {
  size_t cases = 0, preprocessed = 0, kept = 0;  // of this shard; kept: finished by an earlier run
  size_t dataset_cases = 0, unfinished = 0;     // the whole dataset, and its cases no shard has finished yet
  bool indexed = false;                          // index.json written: the store can be trained from
};

// Preprocesses the dataset's training and validation cases into `store_dir`. Resumable: a finished
// case whose source files are unchanged is kept. A store made with another recipe or number of classes
// is refused (an error naming what differs) unless options.overwrite (refused with a shard: one shard
// must not empty what the others write). With a shard, the index is written by the shard that finds
// every case finished when it is done (the last one), or by a later run without a shard (the merge).
PreprocessSummary preprocess_to_store(const Dataset& dataset, const PreprocessRecipe& recipe, int64_t classes, const std::string& store_dir,
                                      const PreprocessToStoreOptions& options = {});

// True when `path` is a store's folder (finished or not: opening an unfinished one says so).
bool is_case_store(const std::string& path);

class CaseStore {
 public:
  // Reads the index and maps every case's arrays (nothing of them is read but their headers); a missing,
  // truncated or inconsistent file is an error naming it.
  explicit CaseStore(const std::string& store_dir);
  ~CaseStore();

  const std::string& folder() const { return folder_; }
  const PreprocessRecipe& recipe() const { return recipe_; }
  int64_t classes() const { return classes_; }
  // The dataset's ignore label; its voxels are stored (and read back) as the value classes().
  std::optional<int64_t> ignore_label() const { return dataset_.ignore_label; }
  // The highest label value the store holds: classes() - 1, or classes() with an ignore label.
  int64_t top_label() const { return classes_ - (dataset_.ignore_label ? 0 : 1); }
  // The dataset's lists, each case's source image as its file name (so a store splits into
  // folds as its raw dataset does).
  const Dataset& dataset() const { return dataset_; }
  const std::vector<StoredCase>& cases() const { return cases_; }
  size_t find(const std::string& source_image) const;  // throws when absent

  // The whole case, in memory (image float32, label int64), as preprocess() returned it.
  PreparedCase read(size_t index) const;
  // A crop; the label values are checked to be below classes() and the image finite.
  Crop crop(size_t index, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size) const;
  // The foreground sample (its positions checked against the case's shape when first asked for).
  const ForegroundSample& foreground(size_t index) const;

 private:
  std::string folder_;
  PreprocessRecipe recipe_;
  int64_t classes_ = 0;
  Dataset dataset_;
  std::vector<StoredCase> cases_;
  std::vector<std::unique_ptr<MappedNpy>> images_, labels_, foreground_files_;
  std::vector<ForegroundSample> samples_;
  mutable std::vector<std::atomic<bool>> checked_;
};

// The cases `indices` of a store as a crop source for the sampler.
std::shared_ptr<const CropSource> store_crop_source(std::shared_ptr<const CaseStore> store, std::vector<size_t> indices);

}  // namespace repux
