#include "repux/experiment/ablation.h"

#include "repux/data/case_store.h"
#include "repux/data/dataset.h"
#include "repux/error.h"
#include "repux/eval/erf.h"
#include "repux/eval/metrics.h"
#include "repux/eval/paired_test.h"
#include "repux/infer/predictor.h"
#include "repux/io/atomic_file.h"
#include "repux/io/json_file.h"
#include "repux/io/volume_file.h"
#include "repux/model/model_file.h"
#include "repux/train/plot.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

namespace repux {

namespace fs = std::filesystem;

namespace {

constexpr double kSurfaceToleranceMm = 2.0;

template <typename T>
T config_value(const nlohmann::json& j, const char* key, const T& fallback, const std::string& path) {
  try {
    return j.contains(key) ? j.at(key).get<T>() : fallback;
  } catch (const nlohmann::json::exception&) {
    fail("{}: field '{}' has the wrong type ({})", path, key, j.at(key).type_name());
  }
}

double finite_or_nan(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : std::nan(""); }
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double standard_deviation(const std::vector<double>& values) {
  std::vector<double> finite;
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  if (finite.size() < 2) return std::nan("");
  const double mean = mean_of_finite(finite);
  double sum = 0;
  for (double v : finite) sum += (v - mean) * (v - mean);
  return std::sqrt(sum / static_cast<double>(finite.size() - 1));
}

std::string alpha_text(double alpha) { return fmt::format("{:g}", alpha); }

// ---- one (cell, seed) ----

struct CaseScores {
  std::string name;
  std::vector<ClassMetrics> per_class;  // classes 1 .. K-1
};

std::vector<CaseScores> evaluate_held_out(LoadedModel& model, const TrainOptions& o) {
  const Dataset dataset = load_dataset(o.dataset, o.data_root);
  const int64_t classes = model.info.plan.network.out_channels;
  std::vector<CaseScores> scores;
  for (const CaseFiles& c : dataset.validation) {
    const Volume image = read_volume(c.image);
    const Prediction p = predict_volume(model, image, PredictOptions{});
    const Volume truth = read_label_volume(c.label, image.grid());
    scores.push_back({fs::path(c.image).filename().string(),
                      evaluate_labels(p.labels.data, truth.data, classes, image.spacing(), kSurfaceToleranceMm)});
  }
  return scores;
}

// The ERF of a trained model's encoder stage at 1/2^stage resolution, over Gaussian noise.
ErfSummary measure_erf(LoadedModel& model, const AblationErf& e, uint64_t seed) {
  for (auto& p : model.net->parameters()) p.set_requires_grad(false);
  const int64_t channels = model.info.plan.network.in_channels;
  torch::manual_seed(seed);
  std::vector<torch::Tensor> inputs;
  for (int64_t i = 0; i < e.samples; ++i) inputs.push_back(torch::randn({1, channels, e.size, e.size, e.size}));
  // repuxnet's stage s (1-based) is at 1/2^s; resenc's first stage is at full resolution.
  const size_t index = model.info.plan.network.arch == "resenc" ? e.stage : e.stage - 1;
  const StageErf erf = encoder_stage_erf(model.net, index, inputs);
  return summarize_erf(erf.map, erf.centre);
}

nlohmann::json result_json(const AblationCell& cell, uint64_t seed, const TrainResult& r, int64_t parameters, const ErfSummary& erf,
                           const std::vector<CaseScores>& cases, const Plan& plan) {
  nlohmann::json j = {{"cell", cell.name},
                      {"seed", seed},
                      {"network", to_json(plan.network)},  // as trained (the trainer adds deep supervision's heads)
                      {"seconds_per_iteration", 1.0 / std::max(1e-12, r.iterations_per_second)},
                      {"parameters", parameters},
                      {"class_names", plan.class_names},
                      {"erf_radius_voxels", erf.radius},
                      {"erf_area_ratio", erf.area_ratio}};
  for (const auto& c : cases) {
    nlohmann::json dice = nlohmann::json::array(), hd95 = nlohmann::json::array();
    for (const auto& m : c.per_class) {
      dice.push_back(number_or_null(m.dice));
      hd95.push_back(number_or_null(m.hd95));
    }
    j["cases"].push_back({{"case", c.name}, {"dice", dice}, {"hd95", hd95}});
  }
  return j;
}

// Every run trains from one store, preprocessed once for the grid (the cells differ in the network only).
void run_one(const AblationSpec& spec, const AblationCell& cell, uint64_t seed, const std::string& store,
             const std::function<void(const std::string&)>& log) {
  const fs::path dir = fs::path(ablation_result_path(spec, cell.name, seed)).parent_path();
  TrainOptions o = cell.training;
  o.dataset = store;
  o.plan.network = cell.network;
  o.seed = seed;
  o.output_dir = (dir / "training").string();
  o.resume = fs::exists(dir / "training" / TrainOutputs::checkpoint());
  o.overwrite = !o.resume;  // the ablation owns its folders; a run without a checkpoint starts again
  log(fmt::format("{} seed {}: training{}", cell.name, seed, o.resume ? " (resumed)" : ""));
  const TrainResult r = train(o);
  const std::string model_path = (dir / "training" / TrainOutputs::last_model()).string();
  log(fmt::format("{} seed {}: {:.3f} s/iteration; evaluating the held-out cases", cell.name, seed, 1.0 / r.iterations_per_second));
  LoadedModel model = load_model(model_path);  // read once: prediction, ERF and the parameter count
  const auto cases = evaluate_held_out(model, spec.training);  // the raw files, as predict reads them
  if (cases.empty()) fail("{}: the dataset has no validation cases to hold out", spec.training.dataset);
  const ErfSummary erf = measure_erf(model, spec.erf, seed);  // after prediction: it freezes the weights
  const nlohmann::json result = result_json(cell, seed, r, parameter_count(*model.net), erf, cases, model.info.plan);
  write_file_atomically(ablation_result_path(spec, cell.name, seed), result.dump(1) + "\n");
}

// ---- the table ----

struct CellResults {
  std::vector<nlohmann::json> seeds;  // one result file each
};

// (seed, case) -> mean foreground Dice of that case.
std::map<std::pair<uint64_t, std::string>, double> mean_dice_by_pair(const CellResults& r) {
  std::map<std::pair<uint64_t, std::string>, double> out;
  for (const auto& s : r.seeds) {
    for (const auto& c : s.at("cases")) {
      std::vector<double> dice;
      for (const auto& d : c.at("dice")) dice.push_back(finite_or_nan(d));
      out[{s.at("seed").get<uint64_t>(), c.at("case").get<std::string>()}] = mean_of_finite(dice);
    }
  }
  return out;
}

// Mean over seeds and cases of field[k], with the spread of the per-seed means.
std::pair<double, double> class_mean_and_spread(const CellResults& r, const char* field, size_t k) {
  std::vector<double> all, per_seed;
  for (const auto& s : r.seeds) {
    std::vector<double> seed_values;
    for (const auto& c : s.at("cases")) seed_values.push_back(finite_or_nan(c.at(field).at(k)));
    all.insert(all.end(), seed_values.begin(), seed_values.end());
    per_seed.push_back(mean_of_finite(seed_values));
  }
  return {mean_of_finite(all), standard_deviation(per_seed)};
}

nlohmann::json cell_row(const std::string& name, const CellResults& r, const CellResults& reference, const std::vector<std::string>& classes) {
  nlohmann::json row = {{"cell", name}, {"network", r.seeds.front().at("network")}, {"seeds", r.seeds.size()}};
  std::vector<double> seconds, r50, r90, seed_means;
  for (const auto& s : r.seeds) {
    seconds.push_back(s.at("seconds_per_iteration").get<double>());
    r50.push_back(s.at("erf_radius_voxels").at(1).get<double>());
    r90.push_back(s.at("erf_radius_voxels").at(2).get<double>());
  }
  row["parameters"] = r.seeds.front().at("parameters");
  row["seconds_per_iteration"] = mean_of_finite(seconds);
  row["erf_radius_50"] = mean_of_finite(r50);
  row["erf_radius_90"] = mean_of_finite(r90);
  for (size_t k = 0; k + 1 < classes.size(); ++k) {
    const auto [dice, dice_spread] = class_mean_and_spread(r, "dice", k);
    const auto [hd95, hd95_spread] = class_mean_and_spread(r, "hd95", k);
    int64_t missed = 0;  // (seed, case) pairs where the class was not found at all: HD95 leaves them out
    for (const auto& seed : r.seeds) {
      for (const auto& c : seed.at("cases")) missed += c.at("dice").at(k).is_number() && c.at("dice").at(k).get<double>() == 0.0;
    }
    row["per_class"].push_back({{"class", classes[k + 1]},
                                {"missed", missed},
                                {"dice", number_or_null(dice)},
                                {"dice_spread", number_or_null(dice_spread)},
                                {"hd95", number_or_null(hd95)},
                                {"hd95_spread", number_or_null(hd95_spread)}});
  }
  const auto mine = mean_dice_by_pair(r), theirs = mean_dice_by_pair(reference);
  std::vector<double> all, differences;
  std::map<uint64_t, std::vector<double>> by_seed;
  for (const auto& [key, dice] : mine) {
    all.push_back(dice);
    by_seed[key.first].push_back(dice);
    auto it = theirs.find(key);
    if (it != theirs.end() && std::isfinite(dice) && std::isfinite(it->second)) differences.push_back(dice - it->second);
  }
  for (const auto& [seed, values] : by_seed) seed_means.push_back(mean_of_finite(values));
  row["mean_dice"] = number_or_null(mean_of_finite(all));
  row["mean_dice_spread"] = number_or_null(standard_deviation(seed_means));
  row["mean_dice_per_seed"] = seed_means;
  const SignedRankResult test = wilcoxon_signed_rank(differences);
  row["vs_reference"] = {{"pairs", differences.size()},
                         {"nonzero_pairs", test.pairs},
                         {"mean_difference", number_or_null(mean_of_finite(differences))},
                         {"w_plus", test.w_plus},
                         {"p_value", test.p_value}};
  return row;
}

std::string cell_text(const nlohmann::json& v, const char* format) {
  return v.is_number() ? fmt::format(fmt::runtime(format), v.get<double>()) : std::string("-");
}

std::string markdown_table(const nlohmann::json& table) {
  std::string md = "| cell | parameters | s/iteration | ERF r50 / r90 (voxels) | mean Dice (spread) | vs " + table.at("reference").get<std::string>() +
                   ": difference, p (Wilcoxon, n) |";
  std::string rule = "|---|---|---|---|---|---|";
  for (const auto& c : table.at("classes")) {
    md += fmt::format(" {} Dice | {} HD95 (mm; cases at Dice 0 left out) |", c.get<std::string>(), c.get<std::string>());
    rule += "---|---|";
  }
  md += "\n" + rule + "\n";
  for (const auto& row : table.at("cells")) {
    const auto& v = row.at("vs_reference");
    md += fmt::format("| {} | {} | {:.3f} | {:.1f} / {:.1f} | {} ({}) | {}, {} (n={}) |", row.at("cell").get<std::string>(),
                      row.at("parameters").get<int64_t>(), row.at("seconds_per_iteration").get<double>(), row.at("erf_radius_50").get<double>(),
                      row.at("erf_radius_90").get<double>(), cell_text(row.at("mean_dice"), "{:.4f}"), cell_text(row.at("mean_dice_spread"), "{:.4f}"),
                      cell_text(v.at("mean_difference"), "{:+.4f}"), cell_text(v.at("p_value"), "{:.3g}"), v.at("pairs").get<int64_t>());
    for (const auto& k : row.at("per_class")) {
      md += fmt::format(" {} ({}) | {} ({}), {} missed |", cell_text(k.at("dice"), "{:.3f}"), cell_text(k.at("dice_spread"), "{:.3f}"),
                        cell_text(k.at("hd95"), "{:.1f}"), cell_text(k.at("hd95_spread"), "{:.1f}"), k.at("missed").get<int64_t>());
    }
    md += "\n";
  }
  return md;
}

std::string csv_table(const nlohmann::json& table) {
  std::string csv = "cell,class,dice,dice_spread,hd95,hd95_spread,mean_dice,p_value_vs_reference,seconds_per_iteration,parameters,erf_radius_50\n";
  for (const auto& row : table.at("cells")) {
    for (const auto& k : row.at("per_class")) {
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", row.at("cell").get<std::string>(), k.at("class").get<std::string>(),
                         k.at("dice").dump(), k.at("dice_spread").dump(), k.at("hd95").dump(), k.at("hd95_spread").dump(), row.at("mean_dice").dump(),
                         row.at("vs_reference").at("p_value").dump(), row.at("seconds_per_iteration").dump(), row.at("parameters").dump(),
                         row.at("erf_radius_50").dump());
    }
  }
  return csv;
}

}  // namespace

AblationSpec read_ablation_config(const std::string& path, const std::function<TrainOptions(const std::vector<std::string>&)>& parse_train) {
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object()) fail("{}: expected a JSON object", path);
  if (!j.contains("train") || !j["train"].is_array()) fail("{}: field 'train' (repux train's arguments, a list of strings) is missing", path);
  try {
    check_known_keys(j, {"train", "kernel_sizes", "reparams", "bfr_alphas", "resenc", "resenc_dims", "resenc_depths", "seeds", "reference", "erf", "recipes"},
                     "the ablation config");
    if (j.contains("erf")) check_known_keys(j["erf"], {"size", "stage", "samples"}, "field 'erf'");
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  AblationSpec s;
  const auto train = config_value<std::vector<std::string>>(j, "train", {}, path);
  s.training = parse_train(train);
  if (j.contains("recipes")) {
    if (!j["recipes"].is_object() || j["recipes"].empty()) fail("{}: field 'recipes' must map recipe names to lists of train arguments", path);
    for (const auto& entry : j["recipes"].items()) {
      const std::string name = entry.key();
      std::vector<std::string> all = train;
      all.insert(all.end(), {"--recipe", name});
      const auto more = config_value<std::vector<std::string>>(j["recipes"], name.c_str(), {}, path);
      all.insert(all.end(), more.begin(), more.end());
      s.recipes.push_back(parse_train(all));
    }
  }
  s.kernel_sizes = config_value(j, "kernel_sizes", s.kernel_sizes, path);
  std::vector<std::string> reparams;
  for (auto r : s.reparams) reparams.push_back(enum_name(r));
  reparams = config_value(j, "reparams", reparams, path);
  s.reparams.clear();
  for (const auto& name : reparams) s.reparams.push_back(enum_from_name<Reparam>(name));
  s.bfr_alphas = config_value(j, "bfr_alphas", s.bfr_alphas, path);
  s.resenc = config_value(j, "resenc", s.resenc, path);
  s.resenc_dims = config_value(j, "resenc_dims", s.resenc_dims, path);
  s.resenc_depths = config_value(j, "resenc_depths", s.resenc_depths, path);
  s.seeds = config_value(j, "seeds", s.seeds, path);
  s.reference = config_value(j, "reference", s.reference, path);
  if (j.contains("erf")) {
    const auto& e = j["erf"];
    s.erf.size = config_value(e, "size", s.erf.size, path);
    s.erf.stage = config_value(e, "stage", s.erf.stage, path);
    s.erf.samples = config_value(e, "samples", s.erf.samples, path);
  }
  if (s.kernel_sizes.empty() || s.reparams.empty()) fail("{}: 'kernel_sizes' and 'reparams' need at least one value each", path);
  if (s.seeds.empty()) fail("{}: 'seeds' needs at least one seed", path);
  if (s.erf.size < 16 || s.erf.size % 16 != 0) fail("{}: erf.size {} must be a positive multiple of 16", path, s.erf.size);
  if (s.erf.stage < 1 || s.erf.stage > 4) fail("{}: erf.stage {} must be 1 to 4", path, s.erf.stage);
  if (s.erf.samples < 1) fail("{}: erf.samples must be at least 1", path);
  return s;
}

namespace {

// The grid's cells trained with `training`, named with `suffix`.
std::vector<AblationCell> cells_of(const AblationSpec& spec, const TrainOptions& training, const std::string& suffix) {
  NetworkConfig base = training.plan.network;
  base.arch = "repuxnet";
  std::vector<AblationCell> cells;
  for (const int64_t k : spec.kernel_sizes) {
    for (const Reparam r : spec.reparams) {
      NetworkConfig n = base;
      n.kernel_sizes = {k};
      n.reparam = r;
      cells.push_back({fmt::format("k{}-{}{}", k, enum_name(r), suffix), n.resolved(), training});
    }
  }
  const int64_t largest = *std::max_element(spec.kernel_sizes.begin(), spec.kernel_sizes.end());
  for (const double alpha : spec.bfr_alphas) {
    NetworkConfig n = base;
    n.kernel_sizes = {largest};
    n.reparam = Reparam::Bfr;
    n.bfr_alpha = alpha;
    cells.push_back({fmt::format("k{}-bfr-a{}{}", largest, alpha_text(alpha), suffix), n.resolved(), training});
  }
  if (spec.resenc) {
    NetworkConfig n;
    n.arch = "resenc";
    n.in_channels = base.in_channels;
    n.out_channels = base.out_channels;
    n.dims = spec.resenc_dims;
    n.depths = spec.resenc_depths;
    cells.push_back({"resenc" + suffix, n.resolved(), training});
  }
  return cells;
}

}  // namespace

std::vector<AblationCell> ablation_cells(const AblationSpec& spec) {
  if (spec.recipes.empty()) return cells_of(spec, spec.training, "");
  std::vector<AblationCell> cells;
  for (const TrainOptions& t : spec.recipes) {
    const Recipe recipe = t.plan.training.recipe;
    const auto more = cells_of(spec, t, recipe == Recipe::Repux ? "" : "-" + enum_name(recipe));
    cells.insert(cells.end(), more.begin(), more.end());
  }
  return cells;
}

std::string reference_cell(const AblationSpec& spec) {
  if (!spec.reference.empty()) return spec.reference;
  return fmt::format("k{}-bfr", *std::max_element(spec.kernel_sizes.begin(), spec.kernel_sizes.end()));
}

std::string ablation_result_path(const AblationSpec& spec, const std::string& cell, uint64_t seed) {
  return (fs::path(spec.output_dir) / "cells" / cell / fmt::format("seed-{}", seed) / "result.json").string();
}

void run_ablation(const AblationSpec& spec, const std::function<void(const std::string&)>& log) {
  const auto cells = ablation_cells(spec);
  const std::string reference = reference_cell(spec);
  if (std::none_of(cells.begin(), cells.end(), [&](const AblationCell& c) { return c.name == reference; })) {
    fail("the reference cell '{}' is not in the grid", reference);
  }
  const TrainOptions& t = spec.training;
  const std::string store = (fs::path(spec.output_dir) / "preprocessed").string();
  log("preprocessing the dataset once for every run");
  preprocess_to_store(load_dataset(t.dataset, t.data_root), t.plan.preprocessing, t.plan.network.out_channels, store);
  for (const auto& cell : cells) {
    for (const uint64_t seed : spec.seeds) {
      if (fs::exists(ablation_result_path(spec, cell.name, seed))) {
        log(fmt::format("{} seed {}: done before, kept", cell.name, seed));
        continue;
      }
      run_one(spec, cell, seed, store, log);
    }
  }
}

nlohmann::json ablation_table(const AblationSpec& spec) {
  std::map<std::string, CellResults> results;
  const auto cells = ablation_cells(spec);
  for (const auto& cell : cells) {
    for (const uint64_t seed : spec.seeds) {
      const std::string path = ablation_result_path(spec, cell.name, seed);
      if (!fs::exists(path)) fail("{}: missing; run the ablation first", path);
      nlohmann::json r = read_json_file(path);
      if (!r.is_object() || !r.contains("cases") || !r.contains("class_names")) fail("{}: not an ablation result file", path);
      results[cell.name].seeds.push_back(std::move(r));
    }
  }
  const std::string reference = reference_cell(spec);
  if (!results.count(reference)) fail("the reference cell '{}' is not in the grid", reference);
  const auto classes = results[reference].seeds.front().at("class_names").get<std::vector<std::string>>();
  nlohmann::json table = {{"reference", reference}, {"seeds", spec.seeds}, {"test", "Wilcoxon signed-rank, two-sided, exact"}};
  for (size_t k = 1; k < classes.size(); ++k) table["classes"].push_back(classes[k]);
  try {
    for (const auto& cell : cells) table["cells"].push_back(cell_row(cell.name, results[cell.name], results[reference], classes));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: a result file is malformed ({})", spec.output_dir, e.what());
  }
  return table;
}

void write_ablation_report(const AblationSpec& spec, const nlohmann::json& table) {
  const fs::path out(spec.output_dir);
  write_file_atomically((out / "table.json").string(), table.dump(2) + "\n");
  write_file_atomically((out / "table.md").string(), markdown_table(table));
  write_file_atomically((out / "table.csv").string(), csv_table(table));
  std::vector<LabelledPoints> columns;
  for (const auto& row : table.at("cells")) {
    columns.push_back({row.at("cell").get<std::string>(), row.at("mean_dice_per_seed").get<std::vector<double>>()});
  }
  if (plotting_available()) plot_labelled_points(columns, "Held-out mean foreground Dice per seed (line: mean)", "Dice", (out / "ablation.png").string());
}

}  // namespace repux
