// `repux predict`: one volume (a file or a DICOM series), or a folder of volume files as a batch job
// (in nnU-Net's naming, CASE_0000.ext, CASE_0001.ext, ... are one case's channels, written as CASE.ext),
// or a folder of DICOM studies (one per subfolder, each written as <subfolder>.nii.gz, or .dcm with --format).
// Several -m make an ensemble. Labels go to NIfTI, or to a DICOM SEG (or RTSTRUCT: --format) when the
// output ends in .dcm. One volume may be written several ways from one pass: -o more than once,
// --rtstruct, --statistics, --preview (infer/prediction_outputs.h).
// A folder is resumable and can be shared out: cases whose output exists are skipped (unless
// --overwrite), --shard K/N takes every N-th case from the K-th, and a case that fails is reported
// and the others go on (the exit status is non-zero at the end, naming them).
#include "commands.h"
#include "options.h"

#include "repux/allocator.h"
#include "repux/data/dataset.h"
#include "repux/dist/communicator.h"
#include "repux/error.h"
#include "repux/infer/prediction_outputs.h"
#include "repux/infer/predictor.h"
#include "repux/io/volume_file.h"
#include "repux/train/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>

namespace fs = std::filesystem;

namespace repux::cli {
namespace {

struct PredictArgs {
  std::vector<std::string> models;
  std::string input, device = "cpu", stitch_device, shard, reference;
  std::vector<std::string> outputs;
  PredictionOutputs extra;  // the outputs besides the first -o (one volume only)
  InferenceArgs inference;
  VolumeReadOptions reading = allowing_channels();
  VolumeWriteOptions writing;
  int64_t batch = 1;
  Precision precision = Precision::Float32;
  Stitching stitching = Stitching::Slabs;
  bool save_probabilities = false, overwrite = false, no_postprocess = false;
  bool format_given = false;  // --format: a folder of DICOM studies is written as .dcm files
  bool timings = false;       // --timings: where each case's time went
  bool float32_accumulators = false;
  std::vector<std::string> classes_subset;
};

PredictOptions predict_options(const PredictArgs& a) {
  PredictOptions o;
  o.overrides = resolve_overrides(a.inference);
  o.batch_size = a.batch;
  o.compute_device = device_from_name(a.device, "--device");
  if (!a.stitch_device.empty()) o.stitch_device = device_from_name(a.stitch_device, "--stitch-device");
  o.keep_probabilities = a.save_probabilities;
  o.precision = a.precision;
  o.stitching = a.stitching;
  o.postprocess = !a.no_postprocess;
  o.classes_subset = a.classes_subset;
  o.measure_memory = a.timings;
  if (a.float32_accumulators) o.float32_accumulator_bytes = std::numeric_limits<int64_t>::max();
  o.on_progress = progress_printer("  windows");
  return o;
}

std::string probabilities_path(const std::string& labels_path) {
  const fs::path p(labels_path);
  return (p.parent_path() / (volume_stem(p.filename().string()) + "_probabilities.nii.gz")).string();
}

bool already_done(const VolumeJob& job, const PredictArgs& a) {
  return fs::exists(job.output) && (!a.save_probabilities || fs::exists(probabilities_path(job.output)));
}

// -m as nnU-Net users give it: a model file; a training run folder (its final model, last.repux); or a
// folder of runs (fold_0 ... fold_4: the folds' ensemble).
std::vector<std::string> model_files(const std::vector<std::string>& arguments) {
  const std::string final_model = TrainOutputs::last_model();
  std::vector<std::string> files;
  for (const fs::path argument : arguments) {
    if (!fs::is_directory(argument)) {
      files.push_back(argument.string());
    } else if (fs::exists(argument / final_model)) {
      files.push_back((argument / final_model).string());
    } else {
      std::vector<std::string> folds;
      for (const auto& entry : fs::directory_iterator(argument)) {
        if (fs::exists(entry.path() / final_model)) folds.push_back((entry.path() / final_model).string());
      }
      if (folds.empty()) fail("-m {}: neither a model file, nor a training run (with {}), nor a folder of runs", argument.string(), final_model);
      std::sort(folds.begin(), folds.end());
      files.insert(files.end(), folds.begin(), folds.end());
    }
  }
  return files;
}

std::vector<LoadedModel> load_models(const PredictArgs& a, const torch::Device& device) {
  const auto files = model_files(a.models);
  std::vector<LoadedModel> models;
  for (const auto& path : files) models.push_back(load_model(path, device));
  check_ensemble(models, files);
  if (files.size() > 1) fmt::print("ensemble of {} models: {}\n", files.size(), fmt::join(files, ", "));
  return models;
}

// What one volume's prediction is written as: every -o, and the extra outputs.
PredictionOutputs outputs_of(const PredictArgs& a, const std::string& first) {
  PredictionOutputs o = a.extra;
  o.label_files = {first};
  o.label_files.insert(o.label_files.end(), a.outputs.begin() + 1, a.outputs.end());
  o.writing = a.writing;
  return o;
}

// A folder is written to one output folder; the outputs that belong to one volume are refused.
void check_outputs(const PredictArgs& a, bool folder) {
  const bool extras = a.outputs.size() > 1 || !a.extra.rtstruct.empty() || !a.extra.statistics.empty() || !a.extra.preview.empty();
  if (folder && extras) {
    fail("-i {} is a folder of volumes: give one -o (the output folder); -o more than once, --rtstruct, --statistics and --preview are for "
         "one volume", a.input);
  }
  if (folder && !a.reference.empty()) fail("--reference belongs to one volume, and -i {} is a folder of volumes", a.input);
  if (!folder) {
    for (const auto& out : a.outputs) refuse_writing_over_inputs({a.input}, out);
    check_prediction_outputs(outputs_of(a, a.outputs.front()));
  }
}

// The models are loaded once; each case is read, predicted and written (atomically) in turn.
void run_predict(const PredictArgs& a) {
  const PredictOptions o = predict_options(a);
  predict_settings(Plan{}, o);  // checks the user's values before the models are read
  const auto jobs = volume_jobs(a.input, a.outputs.front(), a.shard.empty() ? std::pair<int64_t, int64_t>{1, 1} : parse_shard(a.shard), true,
                                a.format_given ? ".dcm" : ".nii.gz");
  const bool folder = jobs.size() != 1 || jobs[0].input != a.input;  // a batch over a folder's volume files
  check_outputs(a, folder);
  std::optional<Volume> reference;
  if (!a.reference.empty()) reference = read_volume(a.reference, a.reading);
  std::vector<LoadedModel> models = load_models(a, o.compute_device);
  std::vector<std::string> failed;
  std::vector<double> seconds;
  size_t skipped = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const VolumeJob& job = jobs[i];
    if (folder && !a.overwrite && already_done(job, a)) {
      ++skipped;
      fmt::print("[{}/{}] {}: skipped, {} exists (--overwrite to predict it again)\n", i + 1, jobs.size(), job.input, job.output);
      continue;
    }
    try {
      using Clock = std::chrono::steady_clock;
      auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
      const auto t0 = Clock::now();
      if (a.timings) reset_peak_resident();
      Volume image = job.more_channels.empty() ? read_volume(job.input, a.reading) : read_case_image({job.input, "", job.more_channels});
      const double read_seconds = since(t0);
      const int64_t read_peak = a.timings ? peak_resident_bytes() : -1;
      release_free_memory();  // the reader's buffers
      const PredictionOutputs outputs = outputs_of(a, job.output);
      // The image's voxels are let go once preprocessed unless an output reads them.
      Prediction p = reads_image_voxels(outputs) ? predict_volume(models, image, o) : predict_volume_releasing_voxels(models, image, o);
      release_free_memory();  // the windows' and restoring's
      const auto t_write = Clock::now();
      if (a.timings) reset_peak_resident();
      if (reference) attach_dicom_reference(p.labels, *reference, job.input, a.reference);
      const auto written = write_prediction_outputs(image, p.labels, outputs);
      if (a.save_probabilities) write_volume(p.probabilities, probabilities_path(job.output));
      const double write_seconds = since(t_write);
      seconds.push_back(since(t0));
      fmt::print("[{}/{}] {} -> {} ({:.1f} s, {} window(s) of {})\n", i + 1, jobs.size(), job.input, fmt::join(written, ", "), seconds.back(),
                 p.windows, fmt::join(p.window, "x"));
      if (a.timings) {
        const PredictionTimes& t = p.times;
        const auto gib = [](int64_t bytes) { return bytes / 1073741824.0; };
        fmt::print("  read {:.2f} s, preprocess {:.2f} s, network {:.2f} s, stitching and restoring {:.2f} s, post-processing {:.2f} s, "
                   "write {:.2f} s\n", read_seconds, t.preprocess, t.network, t.stitching, t.postprocess, write_seconds);
        fmt::print("  peak resident memory: read {:.2f} GiB, preprocess {:.2f} GiB, windows to labels {:.2f} GiB, write {:.2f} GiB\n",
                   gib(read_peak), gib(t.preprocess_peak), gib(t.windows_peak), gib(peak_resident_bytes()));
      }
    } catch (const std::exception& e) {
      if (!folder) throw;  // one volume: its error is the command's, one line
      failed.push_back(job.input);
      const std::string message = first_line(e.what());  // naming the case once
      fmt::print(stderr, "repux: error: {}\n", message.rfind(job.input, 0) == 0 ? message : job.input + ": " + message);
    }
    std::fflush(stdout);
  }
  if (folder) {
    double total = 0;
    for (double s : seconds) total += s;
    fmt::print("{} case(s): {} predicted, {} skipped, {} failed", jobs.size(), seconds.size(), skipped, failed.size());
    if (!seconds.empty()) {
      fmt::print("; {:.1f} s per case (min {:.1f}, max {:.1f})", total / seconds.size(), *std::min_element(seconds.begin(), seconds.end()),
                 *std::max_element(seconds.begin(), seconds.end()));
    }
    fmt::print("\n");
  }
  if (!failed.empty()) {
    std::string list;
    for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
    fail("{} of {} case(s) failed: {}", failed.size(), jobs.size(), list);
  }
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto pa = std::make_shared<PredictArgs>();
  auto* p = app.add_subcommand("predict", "Segment volumes: preprocessing replayed, sliding window, labels in the input's geometry");
  p->add_option("-m,--model", pa->models,
                "repux model file, a training run folder (its last.repux), or a folder of fold runs; several -m or folds: an ensemble "
                "(probabilities averaged)")
      ->required();
  p->add_option("-i,--input", pa->input,
                "A volume file, a folder of them, a DICOM series (a folder or DICOMDIR), or a folder of DICOM studies (one per subfolder, "
                "with -o a folder)")
      ->required();
  p->add_option("-o,--output", pa->outputs,
                "Output file (or folder when the input is a folder of volumes): .nii/.nii.gz, or .dcm: a DICOM SEG (or RTSTRUCT: --format) "
                "referencing the input series; more than once: each written from the one prediction")
      ->required();
  auto* format = add_enum_option(p, "--format", pa->writing.dicom_object,
                                 "What a .dcm output is: a SEG, or an RTSTRUCT of contours (radiotherapy); for a folder of DICOM studies, "
                                 "each is written as <study>.dcm of this kind (default: <study>.nii.gz)");
  p->add_option("--rtstruct", pa->extra.rtstruct, "Also write an RTSTRUCT (.dcm), e.g. next to a SEG from -o");
  p->add_option("--statistics", pa->extra.statistics,
                "Also write per-structure statistics: volume, image values inside (HU for CT), bounding box, centroid (.json or .csv)");
  p->add_option("--preview", pa->extra.preview, "Also write a preview picture (.png): axial, coronal and sagittal slices with the labels");
  bind_preview(p, "--preview-window", pa->extra.preview_options);
  p->add_option("--reference", pa->reference,
                "The DICOM series a NIfTI input was made from (same grid): SEG and RTSTRUCT outputs reference it");
  bind_dicom_reading(p, pa->reading);
  p->add_option("--segment-codes", pa->writing.segment_codes_file, "DICOM SEG output: JSON mapping class names to segment codes");
  p->add_option("--device", pa->device, "cpu or cuda")->capture_default_str();
  add_enum_option(p, "--precision", pa->precision, "Autocast precision");
  p->add_option("--stitch-device", pa->stitch_device, "Where window outputs are accumulated (default: --device; cpu saves GPU memory)");
  bind_inference_overrides(p, pa->inference);
  p->add_option("--batch", pa->batch, "Windows per network call")->capture_default_str();
  add_enum_option(p, "--stitching", pa->stitching,
                  "slabs: rows finished and restored as the windows pass, memory ~ classes x window depth; whole: every step over the "
                  "whole volume (the reference)");
  p->add_flag("--float32-accumulators", pa->float32_accumulators,
              "Keep the stitching accumulators in float32 whatever their size (default: above 1 GiB, float16 means of each window's "
              "logits less their largest class, half the memory; softmax models)");
  p->add_flag("--save-probabilities", pa->save_probabilities,
              "Also write the class probabilities (4-D float NIfTI; holds classes x voxels float32 in memory)");
  p->add_option("--classes-subset", pa->classes_subset,
                "Write only these classes, by name (e.g. liver,spleen; TotalSegmentator's --roi_subset); the parts of a multi-part model "
                "without any of them are not run")
      ->delimiter(',');
  p->add_flag("--no-postprocess", pa->no_postprocess, "Leave out the model's post-processing (repux postprocess --determine)");
  p->add_option("--shard", pa->shard, shard_help("the folder's cases"));
  p->add_flag("--overwrite", pa->overwrite, "Predict a folder's cases again even when their output exists");
  p->add_flag("--timings", pa->timings, "Also print where each case's time went: read, preprocess, network, stitching and restoring, "
                                        "post-processing, write");
  p->callback([pa, format] {
    pa->format_given = format->count() > 0;
    run_predict(*pa);
  });
}

}  // namespace repux::cli
