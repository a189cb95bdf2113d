// The case store: preprocessing once to disk, reading crops back, resuming, refusing a changed recipe
// and damaged files. References: preprocess() on the same files in memory, and hand-counted samples.
#include "repux/data/case_store.h"
#include "repux/data/sampler.h"
#include "repux/data/synth.h"
#include "repux/io/volume_file.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace repux;
namespace fs = std::filesystem;

namespace {

// Five small synthetic CT-like cases (random orientations and spacings) and a recipe that resamples.
struct SmallDataset {
  test::TempDir dir;
  Dataset dataset;
  PreprocessRecipe recipe = preprocess_preset("flare");
  SmallDataset() {
    SynthOptions synth;
    synth.min_size = 24;
    synth.max_size = 36;
    dataset = load_dataset(write_synthetic_dataset(dir.file("data"), 5, 7, synth));
    recipe.spacing = std::array<double, 3>{1.5, 1.5, 1.5};
  }
  std::string store() const { return dir.file("store"); }
  std::vector<CaseFiles> all() const {
    auto cases = dataset.training;
    cases.insert(cases.end(), dataset.validation.begin(), dataset.validation.end());
    return cases;
  }
  PreparedCase in_memory(const CaseFiles& f) const {
    const Volume image = read_volume(f.image);
    const Volume label = read_label_volume(f.label, image.grid());
    return preprocess(image, recipe, &label);
  }
};

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::map<std::string, std::string> folder_bytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = file_bytes(e.path().string());
  }
  return out;
}

}  // namespace

TEST(CaseStore, EveryCaseReadsBackEqualToPreprocessingInMemory) {
  SmallDataset d;
  const auto summary = preprocess_to_store(d.dataset, d.recipe, 4, d.store(), {});
  EXPECT_EQ(summary.cases, 5u);
  EXPECT_EQ(summary.preprocessed, 5u);
  const CaseStore store(d.store());
  ASSERT_EQ(store.cases().size(), 5u);
  for (const auto& f : d.all()) {
    const size_t i = store.find(f.image);
    const PreparedCase expected = d.in_memory(f), actual = store.read(i);
    EXPECT_TRUE(torch::equal(actual.image, expected.image)) << f.image;
    EXPECT_TRUE(torch::equal(actual.label, expected.label)) << f.image;
    EXPECT_EQ(actual.trace.crop_start, expected.trace.crop_start);
    EXPECT_EQ(actual.trace.crop_size, expected.trace.crop_size);
    EXPECT_EQ(actual.trace.original.shape, expected.trace.original.shape);
    EXPECT_TRUE(torch::equal(actual.trace.resampled.affine, expected.trace.resampled.affine));
    EXPECT_EQ(actual.trace.orientation.world_axis, expected.trace.orientation.world_axis);
  }
  EXPECT_EQ(store.dataset().training.size(), d.dataset.training.size());
  EXPECT_EQ(store.dataset().class_names, d.dataset.class_names);
  EXPECT_TRUE(is_case_store(d.store()));
}

TEST(CaseStore, CropsAndBatchesEqualThoseOfTheCasesInMemory) {
  SmallDataset d;
  preprocess_to_store(d.dataset, d.recipe, 4, d.store(), {});
  auto store = std::make_shared<const CaseStore>(d.store());
  std::vector<PreparedCase> memory;
  std::vector<size_t> indices;
  for (const auto& f : d.dataset.training) {
    memory.push_back(d.in_memory(f));
    indices.push_back(store->find(f.image));
  }
  const auto from_disk = store_crop_source(store, indices);
  const auto from_memory = memory_crop_source(memory, 4);
  SamplerOptions o;
  o.flip_axes = {0, 1, 2};
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const Batch a = sample_batch(*from_disk, seed, {16, 16, 16}, o), b = sample_batch(*from_memory, seed, {16, 16, 16}, o);
    EXPECT_TRUE(torch::equal(a.image, b.image)) << "seed " << seed;
    EXPECT_TRUE(torch::equal(a.label, b.label)) << "seed " << seed;
  }
  // A crop reaching outside the case is zero there, as crop_or_pad of the whole case gives.
  const auto shape = store->cases()[indices[0]].shape;
  const Crop c = store->crop(indices[0], {-3, shape[1] - 5, 2}, {8, 8, 8});
  EXPECT_TRUE(torch::equal(c.image, crop_or_pad(memory[0].image, {-3, shape[1] - 5, 2}, {8, 8, 8})));
  EXPECT_TRUE(torch::equal(c.label, crop_or_pad(memory[0].label, {-3, shape[1] - 5, 2}, {8, 8, 8})));
}

TEST(CaseStore, ForegroundSampleKeepsSmallClassesWholeAndSpacesLargeOnesEvenly) {
  auto label = torch::zeros({4, 5, 6}, torch::kInt64);
  label[1][2][3] = 2;                               // one voxel of class 2
  label.index_put_({torch::indexing::Slice(0, 2)}, 1);  // 60 voxels of class 1, raster order rows 0..59
  label[1][2][3] = 2;
  const ForegroundSample s = sample_foreground(label, 3, 10);
  EXPECT_EQ(s.class_voxels, (std::vector<int64_t>{0, 59, 1}));
  EXPECT_EQ(s.sample_counts, (std::vector<int64_t>{0, 10, 1}));
  ASSERT_EQ(s.positions.sizes(), (torch::IntArrayRef{11, 3}));
  // Class 1: the voxels of rows floor(i * 59 / 10), i = 0..9, in raster order of the 59 (the class-2
  // voxel at (1, 2, 3) = raster index 30+12+3 = 45 is skipped).
  std::vector<int64_t> raster;
  for (int64_t i = 0; i < 60; ++i) if (i != 45) raster.push_back(i);
  for (int64_t i = 0; i < 10; ++i) {
    const int64_t r = raster[static_cast<size_t>(i * 59 / 10)];
    EXPECT_EQ(s.positions[i][0].item<int64_t>(), r / 30) << i;
    EXPECT_EQ(s.positions[i][1].item<int64_t>(), r / 6 % 5) << i;
    EXPECT_EQ(s.positions[i][2].item<int64_t>(), r % 6) << i;
  }
  EXPECT_EQ(s.positions[10][0].item<int64_t>(), 1);
  EXPECT_EQ(s.positions[10][1].item<int64_t>(), 2);
  EXPECT_EQ(s.positions[10][2].item<int64_t>(), 3);
}

TEST(CaseStore, AnInterruptedRunIsResumedToTheSameStore) {
  SmallDataset d;
  preprocess_to_store(d.dataset, d.recipe, 4, d.store(), {});
  const auto complete = folder_bytes(d.store());
  // What an interruption leaves: no index, one case without its record (its arrays half there), and
  // a temporary file of a killed writer.
  fs::remove(fs::path(d.store()) / "index.json");
  std::string record;
  for (const auto& e : fs::directory_iterator(fs::path(d.store()) / "cases")) {
    if (e.path().extension() == ".json" && record.empty()) record = e.path().string();
  }
  ASSERT_FALSE(record.empty());
  fs::remove(record);
  fs::resize_file(record.substr(0, record.size() - 5) + "_image.npy", 100);
  { std::ofstream(fs::path(d.store()) / "cases" / ".x_image.tmp999999-1.npy") << "partial"; }  // AtomicFile's naming
  EXPECT_THROW(CaseStore{d.store()}, Error);  // unfinished: no index

  PreprocessToStoreOptions o;
  o.threads = 2;
  const auto summary = preprocess_to_store(d.dataset, d.recipe, 4, d.store(), o);
  EXPECT_EQ(summary.kept, 4u);
  EXPECT_EQ(summary.preprocessed, 1u);
  const auto resumed = folder_bytes(d.store());
  ASSERT_EQ(resumed.size(), complete.size());
  for (const auto& [name, bytes] : complete) {
    ASSERT_TRUE(resumed.count(name)) << name;
    EXPECT_TRUE(resumed.at(name) == bytes) << name << " differs after the resumed run";
  }
}

// Several machines preprocess one store on shared storage, each its --shard K/N: no shard makes the
// store trainable before every case is in; the one that completes it writes the index; the result is
// the unsharded store byte for byte. A shard leaves other shards' temporaries alone (another machine's
// writer is not a process here, so its pid says nothing).
TEST(CaseStore, ShardsOnSeveralMachinesMakeTheUnshardedStoreAndTheLastWritesTheIndex) {
  SmallDataset d;
  preprocess_to_store(d.dataset, d.recipe, 4, d.dir.file("whole"), {});
  const auto whole = folder_bytes(d.dir.file("whole"));

  auto share = [&](int64_t k) {
    PreprocessToStoreOptions o;
    o.shard = {k, 3};
    return preprocess_to_store(d.dataset, d.recipe, 4, d.store(), o);
  };
  const auto second = share(2);
  EXPECT_EQ(second.cases, 2u);  // cases 2 and 5 of 5
  EXPECT_EQ(second.unfinished, 3u);
  EXPECT_FALSE(second.indexed);
  EXPECT_NE(test::error_of([&] { CaseStore{d.store()}; }).find("no index.json"), std::string::npos);
  // A write under way on another machine, of the first shard's first case (case ids: the image stems).
  const std::string id = volume_stem(fs::path(d.all()[0].image).filename().string());
  const fs::path foreign = fs::path(d.store()) / "cases" / ("." + id + "_image.tmp999999-1.npy");
  { std::ofstream(foreign) << "partial"; }
  const auto third = share(3);
  EXPECT_TRUE(fs::exists(foreign)) << "shard 3 removed shard 1's temporary";
  EXPECT_FALSE(third.indexed);
  fs::remove(foreign);

  const auto first = share(1);
  EXPECT_EQ(first.cases, 2u);
  EXPECT_EQ(first.unfinished, 0u);
  EXPECT_TRUE(first.indexed);
  const auto sharded = folder_bytes(d.store());
  ASSERT_EQ(sharded.size(), whole.size());
  for (const auto& [name, bytes] : whole) {
    ASSERT_TRUE(sharded.count(name)) << name;
    EXPECT_TRUE(sharded.at(name) == bytes) << name << " differs from the unsharded store";
  }
  EXPECT_EQ(CaseStore(d.store()).cases().size(), 5u);

  PreprocessToStoreOptions o;
  o.shard = {1, 3};
  o.overwrite = true;
  EXPECT_NE(test::error_of([&] { preprocess_to_store(d.dataset, d.recipe, 4, d.store(), o); }).find("cannot be combined with a shard"),
            std::string::npos);
}

TEST(CaseStore, AStoreMadeWithAnotherRecipeIsRefusedOrRedone) {
  SmallDataset d;
  preprocess_to_store(d.dataset, d.recipe, 4, d.store(), {});
  PreprocessRecipe other = d.recipe;
  other.spacing = std::array<double, 3>{2.0, 2.0, 2.0};
  const std::string message = test::error_of([&] { preprocess_to_store(d.dataset, other, 4, d.store(), {}); });
  EXPECT_NE(message.find("another recipe"), std::string::npos) << message;
  EXPECT_NE(message.find("--overwrite"), std::string::npos) << message;
  EXPECT_NE(test::error_of([&] { preprocess_to_store(d.dataset, d.recipe, 5, d.store(), {}); }).find("another classes"), std::string::npos);
  PreprocessToStoreOptions o;
  o.overwrite = true;
  EXPECT_EQ(preprocess_to_store(d.dataset, other, 4, d.store(), o).preprocessed, 5u);
  const CaseStore store(d.store());
  EXPECT_EQ(to_json(store.recipe()), to_json(other));
  const auto& f = d.dataset.training[0];
  const Volume image = read_volume(f.image);
  EXPECT_TRUE(torch::equal(store.read(store.find(f.image)).image, preprocess(image, other).image));
}

TEST(CaseStore, DamagedFilesAreErrorsNamingTheFile) {
  SmallDataset d;
  preprocess_to_store(d.dataset, d.recipe, 4, d.store(), {});
  const CaseStore good(d.store());
  const std::string id = good.cases()[0].id;
  const fs::path cases = fs::path(d.store()) / "cases";
  const auto expect_error_naming = [&](const std::string& file, const std::function<void()>& f) {
    const std::string message = test::error_of(f);
    EXPECT_NE(message.find(file), std::string::npos) << message;
  };
  const std::string image = (cases / (id + "_image.npy")).string(), label = (cases / (id + "_label.npy")).string(),
                    foreground = (cases / (id + "_foreground.npy")).string();
  const std::string image_copy = file_bytes(image), label_copy = file_bytes(label), foreground_copy = file_bytes(foreground);

  fs::resize_file(image, fs::file_size(image) - 4);  // truncated
  expect_error_naming(image, [&] { CaseStore s(d.store()); });
  test::write_file(image, image_copy + "xxxx");  // appended to
  expect_error_naming(image, [&] { CaseStore s(d.store()); });
  test::write_file(image, image_copy);

  std::string bad_label = label_copy;
  bad_label[bad_label.size() / 2] = static_cast<char>(200);  // a label value beyond the classes
  test::write_file(label, bad_label);
  {
    CaseStore s(d.store());
    expect_error_naming(label, [&] { s.read(0); });
  }
  test::write_file(label, label_copy);

  std::string bad_foreground = foreground_copy;
  for (size_t k = bad_foreground.size() - 12; k < bad_foreground.size(); ++k) bad_foreground[k] = static_cast<char>(0x7f);
  test::write_file(foreground, bad_foreground);
  {
    CaseStore s(d.store());
    expect_error_naming(foreground, [&] { s.foreground(0); });
  }
  test::write_file(foreground, foreground_copy);

  const std::string index = (fs::path(d.store()) / "index.json").string();
  const std::string index_copy = file_bytes(index);
  // Reliability round 3, defect 7: an unknown key in repux's own files is refused, naming it.
  nlohmann::json extra = nlohmann::json::parse(index_copy);
  extra["clases"] = 4;
  test::write_file(index, extra.dump());
  expect_error_naming(index, [&] { CaseStore s(d.store()); });
  expect_error_naming("unknown key 'clases' in the store index", [&] { CaseStore s(d.store()); });
  extra = nlohmann::json::parse(index_copy);
  extra["cases"][0]["trace"]["flip"] = true;
  test::write_file(index, extra.dump());
  expect_error_naming("unknown key 'flip' in a case's trace", [&] { CaseStore s(d.store()); });
  test::write_file(index, "{\"format\": ");
  expect_error_naming(index, [&] { CaseStore s(d.store()); });
}

TEST(CaseStore, MultiChannelCasesInBothLayoutsStackTheirChannels) {
  // nnU-Net's layout (CASE_0000 and CASE_0001 files) and one 4-D file must give the same two-channel case.
  test::TempDir dir;
  SynthOptions synth;
  synth.min_size = 20;
  synth.max_size = 28;
  const SynthCase c = make_synthetic_case(3, synth);
  Volume second = c.image;
  second.data = (c.image.data.to(torch::kFloat32) * -0.5 + 7).to(torch::kInt16);
  const fs::path nn = dir.path() / "nnunet";
  fs::create_directories(nn / "imagesTr");
  fs::create_directories(nn / "labelsTr");
  write_volume(c.image, (nn / "imagesTr" / "case_001_0000.nii.gz").string());
  write_volume(second, (nn / "imagesTr" / "case_001_0001.nii.gz").string());
  write_volume(c.label, (nn / "labelsTr" / "case_001.nii.gz").string());
  Volume four_d = c.image;
  four_d.data = torch::stack({c.image.data, second.data});
  const fs::path flat = dir.path() / "flat";
  fs::create_directories(flat);
  write_volume(four_d, (flat / "case_001.nii.gz").string());
  write_volume(c.label, (flat / "case_001_label.nii.gz").string());
  test::write_file((flat / "dataset.json").string(),
                   R"({"training": [{"image": "case_001.nii.gz", "label": "case_001_label.nii.gz"}], "labels": {"0": "bg", "1": "a", "2": "b", "3": "c"}})");

  const Dataset a = load_dataset(nn.string()), b = load_dataset(flat.string());
  ASSERT_EQ(a.training.size(), 1u);
  EXPECT_EQ(a.training[0].more_channels.size(), 1u);
  PreprocessRecipe recipe = preprocess_preset("mri");
  recipe.crop_foreground = false;  // the crop box is the channels' union; compared per channel below
  preprocess_to_store(a, recipe, 4, dir.file("store_a"), {});
  preprocess_to_store(b, recipe, 4, dir.file("store_b"), {});
  const CaseStore sa(dir.file("store_a")), sb(dir.file("store_b"));
  const PreparedCase ca = sa.read(0), cb = sb.read(0);
  ASSERT_EQ(ca.image.size(0), 2);
  EXPECT_TRUE(torch::equal(ca.image, cb.image));
  EXPECT_TRUE(torch::equal(ca.label, cb.label));
  // Each channel is normalised as the one-channel case of that file alone would be.
  Volume only_second = c.image;
  only_second.data = second.data;
  EXPECT_TRUE(torch::allclose(ca.image[1], preprocess(only_second, recipe).image[0], 1e-5, 1e-5));
}
