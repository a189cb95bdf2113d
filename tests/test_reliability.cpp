// Bad input and faults, as a careless user or an attacker would produce them: each case must end in
// one line naming the file or value, a non-zero exit, no crash, no large allocation before the
// input is validated, and nothing half-written left behind. Every test here failed on the code
// before the reliability work (see docs/reliability.md, "What repux guarantees").
#include "repux/data/synth.h"
#include "repux/error.h"
#include "repux/io/npy.h"
#include "repux/io/safetensors.h"
#include "repux/io/torch_checkpoint.h"
#include "repux/model/model_file.h"
#include "repux/train/checkpoint.h"
#include "fixture_networks.h"
#include "test_util.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using repux::test::CommandResult;
using repux::test::TempDir;

namespace {

// Runs `repux ARGS` under bash after `setup` (resource limits, e.g. "ulimit -v 3000000" for KiB of
// address space, or "ulimit -f 8; trap '' XFSZ" for a disk that is full after 8 KiB: writes then fail
// with EFBIG).
CommandResult run_limited(const std::string& setup, const std::string& arguments) {
  const std::string script = setup + "; exec " + std::string(REPUX_BINARY) + " " + arguments;
  return repux::test::run_command("bash -c \"" + script + "\" 2>&1 </dev/null");
}

// The contract for bad input: exit 1 (not a signal), one line, starting with "repux: error:".
void expect_one_line_error(const CommandResult& r, const std::string& mentions) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("repux: error: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(mentions), std::string::npos) << "expected '" << mentions << "' in: " << r.output;
}

std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().string());
  }
  return out;
}

// Address space for a repux process that may load LibTorch and read small inputs, but cannot
// allocate gigabytes: every memory-bomb test runs under it.
const std::string kSmallMemory = "ulimit -v 3000000";

std::string tiny_dataset(const TempDir& dir) {
  repux::SynthOptions synth;
  synth.min_size = 24;
  synth.max_size = 32;
  return repux::write_synthetic_dataset(dir.file("data"), 4, 5, synth);
}

const std::string kTinyTrain =
    " --classes 4 --dims 4 8 16 32 --depths 1 1 1 1 --hidden 16 --kernel-sizes 3 --patch 32 --spacing 4 --crops 1 --folds 2 --workers 1";

// A NIfTI-1 header that claims `n`^3 float32 voxels, followed by `data_bytes` of data.
std::string nifti_claiming(int16_t n, size_t data_bytes) {
  std::string h(352, '\0');
  auto put = [&h](size_t offset, const void* v, size_t size) { std::memcpy(&h[offset], v, size); };
  const int32_t sizeof_hdr = 348;
  const int16_t dims[8] = {3, n, n, n, 1, 1, 1, 1};
  const int16_t datatype = 16, bitpix = 32, qform = 0, sform = 0;
  const float pixdim[8] = {1, 1, 1, 1, 0, 0, 0, 0};
  const float vox_offset = 352;
  put(0, &sizeof_hdr, 4);
  put(40, dims, 16);
  put(70, &datatype, 2);
  put(72, &bitpix, 2);
  put(76, pixdim, 32);
  put(108, &vox_offset, 4);
  put(252, &qform, 2);
  put(254, &sform, 2);
  put(344, "n+1\0", 4);
  return h + std::string(data_bytes, '\0');
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// A torch.save-style zip archive (LibTorch's own writer) holding one record, data.pkl.
std::string torch_zip_with_pickle(const std::string& pickle) {
  std::string archive;
  caffe2::serialize::PyTorchStreamWriter writer([&archive](const void* data, size_t size) -> size_t {
    archive.append(static_cast<const char*>(data), size);
    return size;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return archive;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Rows of a training run's metrics.csv below its header.
int64_t metrics_rows(const std::string& run) {
  std::ifstream in(run + "/metrics.csv");
  int64_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return std::max<int64_t>(0, lines - 1);
}

}  // namespace

// Defect 1: the score read back from a checkpoint was the bytes of a float64 read as an int64.
TEST(Reliability, CheckpointRoundTripKeepsTheBestScore) {
  TempDir dir;
  const repux::NetworkConfig c = repux::test::reduced_repuxnet(3);  // BFR: raw kernels differ from the model's
  torch::manual_seed(1);
  auto net = repux::create_network(c);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3));
  repux::save_checkpoint(dir.file("c.pt"), net, opt, {10, 0.75, 5});
  torch::manual_seed(2);
  auto other = repux::create_network(c);
  torch::optim::AdamW other_opt(other->parameters(), torch::optim::AdamWOptions(1e-3));
  const auto progress = repux::load_checkpoint(dir.file("c.pt"), other, other_opt);
  EXPECT_EQ(progress.iteration, 10);
  EXPECT_EQ(progress.best_dice, 0.75);
  EXPECT_EQ(progress.best_iteration, 5);
  const auto a = net->parameters(), b = other->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
  write_bytes(dir.file("bad.pt"), "PK\x03\x04 not a checkpoint");
  try {
    repux::load_checkpoint(dir.file("bad.pt"), other, other_opt);
    FAIL() << "a corrupt checkpoint was accepted";
  } catch (const repux::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.pt"), std::string::npos) << e.what();
  }
}

// Defects 1, 4, 6, 8: resume keeps model selection working; killed runs leave a loadable checkpoint,
// a complete log after resume and no temporary files; a previous run is not overwritten silently;
// zero intervals are refused before any data is read.
TEST(Reliability, TrainingSurvivesKillsAndRefusesToOverwrite) {
  TempDir dir;
  const std::string data = tiny_dataset(dir);
  const std::string out = dir.file("run");
  const std::string train = "train -d " + data + " -o " + out + kTinyTrain + " --val-every 3 --log-every 1";
  // kill -9 at two moments found by events, not clocks (a loaded 2-core machine may take minutes): past
  // the first checkpoint (iteration 3) and between two checkpoints, then again after a resume, once
  // iteration 16 is logged (so the checkpoint is at iteration 15 or later).
  std::vector<std::string> args;
  std::istringstream words(train + " --iterations 400");
  for (std::string w; words >> w;) args.push_back(w);
  for (const int64_t rows : {5, 16}) {
    const bool resume = fs::exists(out + "/checkpoint.pt");
    auto run_args = args;
    run_args.push_back(resume ? "--resume" : "--overwrite");
    const std::string log = dir.file("killed-" + std::to_string(rows) + ".log");
    const pid_t pid = repux::test::spawn_repux(run_args, {}, log);
    const bool reached = repux::test::wait_until([&] { return metrics_rows(out) >= rows; }, 600);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ASSERT_TRUE(reached) << "iteration " << rows << " never logged:\n" << read_text(log);
    ASSERT_EQ(read_text(log).find("error"), std::string::npos) << read_text(log);
  }
  ASSERT_TRUE(fs::exists(out + "/checkpoint.pt")) << "no checkpoint after two killed runs";
  auto r = repux::test::run_repux(train + " --iterations 12 --resume");
  // A run killed past iteration 12 resumes at its checkpoint (>= 12) and has nothing left to do.
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("4590139227911367168"), std::string::npos) << r.output;
  EXPECT_TRUE(leftovers(out).empty()) << leftovers(out).front();
  std::ifstream log(out + "/metrics.csv");
  std::string line;
  std::getline(log, line);
  int64_t expected = 1, iteration = 0;
  while (std::getline(log, line)) {
    ASSERT_EQ(std::sscanf(line.c_str(), "%ld,", &iteration), 1) << line;
    EXPECT_EQ(iteration, expected++) << "the log has a gap or a repeat";
  }
  EXPECT_GE(expected, 13) << "the log lost rows";
  expect_one_line_error(repux::test::run_repux(train + " --iterations 5"), "--resume");
  expect_one_line_error(repux::test::run_repux("train -d /nonexistent -o " + dir.file("x") + kTinyTrain + " --val-every 0"), "--val-every");
  expect_one_line_error(repux::test::run_repux("train -d /nonexistent -o " + dir.file("x") + kTinyTrain + " --log-every 0"), "--log-every");
}

// Defect 5: a run that diverges stops with an error instead of saving NaN weights as a model.
TEST(Reliability, DivergedTrainingFailsAndNaNModelsAreRefused) {
  TempDir dir;
  const std::string data = tiny_dataset(dir);
  auto r = repux::test::run_repux("train -d " + data + " -o " + dir.file("nan") + kTinyTrain + " --iterations 30 --val-every 10 --lr 1e8");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("diverged"), std::string::npos) << r.output;
  // A model file whose weights hold a NaN is refused by predict.
  r = repux::test::run_repux("train -d " + data + " -o " + dir.file("ok") + kTinyTrain + " --iterations 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto file = repux::read_safetensors(dir.file("ok/last.repux"));
  file.tensors.back().second = file.tensors.back().second.clone().fill_(std::nan(""));
  repux::write_safetensors(file, dir.file("nan.repux"));
  const auto images = fs::path(data).parent_path() / "imagesTr";
  const std::string image = fs::directory_iterator(images)->path().string();
  expect_one_line_error(repux::test::run_repux("predict -m " + dir.file("nan.repux") + " -i " + image + " -o " + dir.file("p.nii.gz")), "NaN");
}

// Without --class-names a trained model names its classes as the dataset's "labels" do (before, the
// defaults class1, class2, ... filled in by the plan's resolution hid them).
TEST(Reliability, TrainingNamesTheClassesAsTheDatasetDoes) {
  TempDir dir;
  const std::string data = tiny_dataset(dir);
  const auto r = repux::test::run_repux("train -d " + data + " -o " + dir.file("m") + kTinyTrain + " --iterations 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json dataset = repux::test::read_json(data);
  std::vector<std::string> expected;
  for (const auto& item : dataset.at("labels").items()) expected.push_back(item.value().get<std::string>());
  ASSERT_EQ(expected.size(), 4u);
  EXPECT_EQ(repux::load_model(dir.file("m/last.repux")).info.plan.class_names, expected);
}

// Defect 2 and 3: a full disk (writes failing with EFBIG) is a one-line error, leaves no temporary
// file and never a truncated output under the real name, for every kind of writer.
TEST(Reliability, FullDiskIsAnErrorForEveryWriter) {
  TempDir dir;
  const std::string data = tiny_dataset(dir);
  auto r = repux::test::run_repux("train -d " + data + " -o " + dir.file("m") + kTinyTrain + " --iterations 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string image = (fs::path(data).parent_path() / "imagesTr" / "synth_000_0000.nii.gz").string();
  const std::string full = "ulimit -f 8; trap '' XFSZ";  // 8 KiB
  struct Case {
    std::string arguments, output;
  };
  const std::vector<Case> cases{
      {"synth -n 2 -o " + dir.file("s"), dir.file("s/imagesTr/synth_000_0000.nii.gz")},
      {"resample " + image + " --spacing 1 -o " + dir.file("r.nii.gz"), dir.file("r.nii.gz")},
      {"predict -m " + dir.file("m/last.repux") + " -i " + image + " -o " + dir.file("p.nii.gz") + " --save-probabilities",
       dir.file("p_probabilities.nii.gz")},
      {"export " + dir.file("m/last.repux") + " -o " + dir.file("e.pth"), dir.file("e.pth")},
      {"train -d " + data + " -o " + dir.file("t") + kTinyTrain + " --iterations 1", dir.file("t/checkpoint.pt")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.arguments);
    const auto result = run_limited(full, c.arguments);
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("cannot write"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("terminate called"), std::string::npos) << result.output;
    EXPECT_FALSE(fs::exists(c.output)) << c.output << " was left behind, truncated";
  }
  EXPECT_TRUE(leftovers(dir.path()).empty()) << leftovers(dir.path()).front();
}

// Defect 6: evaluate refuses labels outside 0..classes-1, fractional labels and predictions
// without ground truth, naming the file.
TEST(Reliability, EvaluateRefusesLabelsItCannotScore) {
  TempDir dir;
  tiny_dataset(dir);
  const fs::path labels = dir.path() / "data" / "labelsTr";
  fs::create_directories(dir.path() / "pred");
  fs::create_directories(dir.path() / "gt");
  const std::string name = "synth_000.nii.gz";
  fs::copy(labels / name, dir.path() / "gt" / name);
  fs::copy(labels / name, dir.path() / "pred" / name);
  auto r = repux::test::run_repux("evaluate --pred " + dir.file("pred") + " --gt " + dir.file("gt") + " --classes 2 -o " + dir.file("s.json"));
  expect_one_line_error(r, "expected 0..1");
  fs::copy(labels / "synth_001.nii.gz", dir.path() / "pred" / "synth_001.nii.gz");
  r = repux::test::run_repux("evaluate --pred " + dir.file("pred") + " --gt " + dir.file("gt") + " -o " + dir.file("s.json"));
  expect_one_line_error(r, "no ground truth");
}

// Defect 7: 200,000 nested lists in a 400 KB pickle crashed the importer (recursive destruction).
TEST(Reliability, DeeplyNestedPickleIsRefusedWithoutACrash) {
  TempDir dir;
  std::string pickle = "\x80\x02";
  const int depth = 200000;
  pickle += std::string(depth, ']') + std::string(depth - 1, 'a') + ".";
  std::string archive = torch_zip_with_pickle(pickle);
  write_bytes(dir.file("deep.pth"), archive);
  expect_one_line_error(repux::test::run_repux("import " + dir.file("deep.pth") + " -o " + dir.file("m.repux")), "deep.pth");
}

// Defects 9-11: sizes declared by a file are checked against what the file holds before anything
// is allocated. Each runs under a 3 GB address-space limit; before, each allocated 4-140 GB.
TEST(Reliability, TinyFilesClaimingHugeSizesAllocateNothing) {
  TempDir dir;
  write_bytes(dir.file("bomb.nii"), nifti_claiming(1400, 4096));
  expect_one_line_error(run_limited(kSmallMemory, "info " + dir.file("bomb.nii")), "truncated");
  write_bytes(dir.file("huge.nii"), nifti_claiming(32767, 16));
  expect_one_line_error(run_limited(kSmallMemory, "info " + dir.file("huge.nii")), "huge.nii");
  // The same header compressed: 80-odd bytes of gzip.
  const std::string gz = dir.file("bomb.nii.gz");
  write_bytes(dir.file("plain.nii"), nifti_claiming(1400, 0));
  ASSERT_EQ(std::system(("gzip -c " + dir.file("plain.nii") + " > " + gz).c_str()), 0);
  expect_one_line_error(run_limited(kSmallMemory, "info " + gz), "truncated");

  // .npy: a 0xFFFFFFF0 header length, and a negative dimension.
  std::string npy("\x93NUMPY\x02\x00\xf0\xff\xff\xff", 12);
  write_bytes(dir.file("len.npy"), npy + std::string(8, ' '));
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 5), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  std::string neg("\x93NUMPY\x01\x00", 8);
  neg += static_cast<char>(header.size() & 0xff);
  neg += static_cast<char>(header.size() >> 8);
  write_bytes(dir.file("neg.npy"), neg + header + std::string(20, '\0'));
  EXPECT_THROW(repux::read_npy(dir.file("neg.npy")), repux::Error);
  EXPECT_THROW(repux::read_npy(dir.file("len.npy")), repux::Error);
}

// Reliability round 3, defect 10: LibTorch's zip reader reserved the size a zip record claims (a 1 KB
// .pth claiming 4 GB reserved 4 GB before failing). The central directory is checked first.
TEST(Reliability, ZipRecordClaimingMoreThanTheFileIsRefusedBeforeReading) {
  TempDir dir;
  const std::string pickle = "\x80\x02}q\x00.";  // an empty dict
  std::string archive = torch_zip_with_pickle(pickle);
  // The central directory entry of data.pkl (signature PK\1\2): compressed and uncompressed sizes at
  // bytes 20 and 24 set to 0xF0000000 (about 4 GB).
  const std::string entry("PK\x01\x02", 4);
  size_t at = archive.find(entry);
  const auto name_at = [&](size_t e) {
    const size_t length = static_cast<unsigned char>(archive[e + 28]) | static_cast<unsigned char>(archive[e + 29]) << 8;
    return archive.substr(e + 46, length);
  };
  while (at != std::string::npos && name_at(at) != "archive/data.pkl") at = archive.find(entry, at + 4);
  ASSERT_NE(at, std::string::npos) << "no directory entry for data.pkl";
  for (size_t field : {20u, 24u}) archive.replace(at + field, 4, std::string("\x00\x00\x00\xf0", 4));
  write_bytes(dir.file("claims.pth"), archive);
  ASSERT_LT(archive.size(), 4096u);
  expect_one_line_error(run_limited(kSmallMemory, "import " + dir.file("claims.pth") + " -o " + dir.file("m.repux")),
                        "zip record 'archive/data.pkl' claims 4026531840 bytes");
  EXPECT_FALSE(fs::exists(dir.file("m.repux")));
}

// Defect 10: a model description that claims a network far larger than the weights it carries.
TEST(Reliability, ModelDescriptionIsCheckedAgainstItsTensors) {
  TempDir dir;
  const std::string data = tiny_dataset(dir);
  auto r = repux::test::run_repux("train -d " + data + " -o " + dir.file("m") + kTinyTrain + " --iterations 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto file = repux::read_safetensors(dir.file("m/last.repux"));
  auto description = nlohmann::json::parse(file.metadata["repux"]);
  const auto good = description;
  description["plan"]["network"]["dims"] = {2048, 4096, 8192, 16384};
  file.metadata["repux"] = description.dump();
  repux::write_safetensors(file, dir.file("wide.repux"));
  expect_one_line_error(run_limited(kSmallMemory, "info " + dir.file("wide.repux")), "description says");
  description = good;
  description["plan"]["class_names"] = {"background", "one"};
  file.metadata["repux"] = description.dump();
  repux::write_safetensors(file, dir.file("names.repux"));
  expect_one_line_error(repux::test::run_repux("info " + dir.file("names.repux")), "class_names");
  description = good;
  description["plan"]["network"]["dims"] = "wide";
  file.metadata["repux"] = description.dump();
  repux::write_safetensors(file, dir.file("type.repux"));
  expect_one_line_error(repux::test::run_repux("info " + dir.file("type.repux")), "type.repux");
}

// Defects 11-12: settings out of range are refused at once, in one line naming the option.
TEST(Reliability, SettingsOutOfRangeAreOneLineErrors) {
  TempDir dir;
  const std::string train = "train -d /nonexistent -o " + dir.file("x") + " --classes 4";
  const std::vector<std::pair<std::string, std::string>> cases{
      {train + " --crops 0", "--crops"},        {train + " --patch 100000", "--patch"}, {train + " --patch 1024", "--patch"},
      {train + " --iterations 0", "--iterations"}, {train + " --fg-ratio 5", "--fg-ratio"}, {train + " --warmup -5", "--warmup"},
      {train + " --clip -1", "--clip"},         {train + " --workers -1", "--workers"}, {train + " --schedule cosin", "cosin"},
  };
  for (const auto& [arguments, mentions] : cases) {
    SCOPED_TRACE(arguments);
    expect_one_line_error(repux::test::run_repux(arguments), mentions);
  }
  const auto threads = repux::test::run_repux("--threads 100000 info /nonexistent.nii");
  EXPECT_NE(threads.exit_code, 0);
  EXPECT_NE(threads.output.find("--threads"), std::string::npos) << threads.output;
  expect_one_line_error(repux::test::run_repux("predict -m /nonexistent.repux -i x.nii -o y.nii --window 0"), "window size 0");
}

// Defect 12: a NaN in the sform and a zero or NaN pixdim are refused (they were read as 1 mm or
// ended in a stack trace), and so is a voxel size of 1e6 mm.
TEST(Reliability, ImpossibleVoxelGeometryIsRefused) {
  TempDir dir;
  auto with_pixdim = [&](float value, const std::string& name) {
    std::string bytes = nifti_claiming(4, 4 * 4 * 4 * 4);
    std::memcpy(&bytes[80], &value, 4);  // pixdim[1]
    write_bytes(dir.file(name), bytes);
    return dir.file(name);
  };
  expect_one_line_error(repux::test::run_repux("info " + with_pixdim(0.0f, "zero.nii")), "voxel size");
  expect_one_line_error(repux::test::run_repux("info " + with_pixdim(std::nanf(""), "nan.nii")), "nan.nii");
  expect_one_line_error(repux::test::run_repux("info " + with_pixdim(1e6f, "big.nii")), "voxel size");
  std::string sform = nifti_claiming(4, 4 * 4 * 4 * 4);
  const int16_t code = 1;
  const float row[4] = {std::nanf(""), 0, 0, 0};
  std::memcpy(&sform[254], &code, 2);
  std::memcpy(&sform[280], row, 16);
  write_bytes(dir.file("sform.nii"), sform);
  expect_one_line_error(repux::test::run_repux("info " + dir.file("sform.nii")), "sform.nii");
}

// Found by fuzz_nifti: a NIfTI-2 header whose 64-bit sizes multiply past int64 (undefined behaviour
// in the size arithmetic). Every input a fuzzer finds becomes a case here.
TEST(Reliability, FuzzerFindingsStayFixed) {
  expect_one_line_error(run_limited(kSmallMemory, "info " + repux::test::data_path("nifti/fuzz_nifti2_dims_overflow.nii")),
                        "fuzz_nifti2_dims_overflow.nii");
  // A torch.save file whose tensor record has fewer strides than sizes (read past a vector before).
  repux::test::TempDir dir;
  const auto r = repux::test::run_repux("import " + repux::test::data_path("models/fuzz_strides_shorter_than_sizes.pth") +
                                        " --arch repuxnet --classes 5 -o " + dir.file("m.repux"));
  expect_one_line_error(r, "fuzz_strides_shorter_than_sizes.pth");
  EXPECT_NE(r.output.find("sizes and"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("m.repux")));
}

// The dataset-at-scale path as a user runs it: plan, preprocess, train from the store; a store made with
// another recipe, an unfinished store and a damaged one are one-line errors.
TEST(Reliability, PlanPreprocessAndTrainFromTheStore) {
  TempDir dir;
  const std::string data = tiny_dataset(dir), plan = dir.file("plan.json"), store = dir.file("store");
  auto r = repux::test::run_repux("plan " + data + " -o " + plan + " --step-voxels 65536");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto planned = repux::test::read_json(plan);
  EXPECT_EQ(planned["network"]["out_channels"], 4);
  EXPECT_EQ(planned["preprocessing"]["name"], "planned");
  r = repux::test::run_repux("preprocess " + data + " --plan " + plan + " -o " + store + " --jobs 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4 cases (4 preprocessed now, 0 kept"), std::string::npos) << r.output;
  r = repux::test::run_repux("preprocess " + data + " --plan " + plan + " -o " + store);
  EXPECT_NE(r.output.find("(0 preprocessed now, 4 kept"), std::string::npos) << r.output;

  const std::string tiny = " --dims 4 8 16 32 --depths 1 1 1 1 --hidden 16 --kernel-sizes 3 --crops 1 --folds 2 --workers 1 --iterations 2";
  r = repux::test::run_repux("train -d " + store + " -o " + dir.file("run") + " --plan " + plan + tiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("from " + store), std::string::npos) << r.output;
  const auto model_plan = repux::test::run_repux("info " + dir.file("run/last.repux"));
  EXPECT_NE(model_plan.output.find("planned"), std::string::npos) << model_plan.output;

  expect_one_line_error(repux::test::run_repux("train -d " + store + " -o " + dir.file("run2") + " --preset amos --classes 4" + tiny),
                        "preprocessed with recipe");
  expect_one_line_error(repux::test::run_repux("preprocess " + data + " --preset amos --classes 4 -o " + store), "--overwrite");
  fs::remove(fs::path(store) / "index.json");
  expect_one_line_error(repux::test::run_repux("train -d " + store + " -o " + dir.file("run3") + tiny + " --classes 4"), "not a finished case store");
}
