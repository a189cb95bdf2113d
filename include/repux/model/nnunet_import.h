#pragma once
// Imports a trained nnU-Net v2 model from its results folder, without Python:
//   <Trainer>__<Plans>__<configuration>/plans.json, dataset.json, fold_K/checkpoint_final.pth
// The plans give the network (either format nnU-Net reads: the current `architecture` entry with
// `arch_kwargs`, or the older `UNet_class_name`, `UNet_base_num_features`, ... which nnU-Net
// converts with fixed defaults, converted here the same way), the spacing, the patch, the
// normalisation and the axis order (transpose_forward after the reader's (k, j, i) order); the
// dataset.json gives the channels, the classes or regions and their names; the checkpoint, read by
// repux's own pickle reader (nothing in it is executed), gives the weights, the trainer's name and
// the mirroring axes it allows at inference. Whatever repux cannot run as nnU-Net would (another
// network class, a 2D configuration, an option it does not have) is refused naming it.
#include "repux/model/model_file.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace repux {

struct NnunetImportOptions {
  std::string folder;                               // the trainer folder
  std::string fold = "0";                           // fold_<fold>: a number or "all"
  std::string checkpoint = "checkpoint_final.pth";  // or checkpoint_best.pth
};

LoadedModel import_nnunet_model(const NnunetImportOptions& options);

// A folder of several nnU-Net tasks that make one label map together (TotalSegmentator's multi-part
// tasks, e.g. "total": Dataset291_..._part1_organs/ ... Dataset295_..._part5_.../, each holding one
// <Trainer>__<Plans>__<configuration>/): the results folders in it, in the order of their names
// (the parts' order). Empty when `folder` is itself one results folder.
std::vector<std::string> nnunet_part_folders(const std::string& folder);

// The parts as one model (LoadedModel::parts): the combined classes are the background and then each
// part's classes in turn, named as the part's dataset.json names them; `options.folder` is ignored.
LoadedModel import_nnunet_parts(const std::vector<std::string>& folders, const NnunetImportOptions& options);

// The folds a results folder holds (fold_0, ..., fold_all), as their names after "fold_".
std::vector<std::string> nnunet_folds(const std::string& folder);

// One configuration of a plans file, its `inherits_from` chain resolved as nnU-Net resolves it.
nlohmann::json nnunet_configuration(const nlohmann::json& plans, const std::string& name, const std::string& source);

// The network of a configuration (either plans format); `source` names the file in errors.
UNetArchitecture nnunet_architecture(const nlohmann::json& configuration, const std::string& source);

}  // namespace repux
