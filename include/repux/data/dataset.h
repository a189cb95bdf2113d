#pragma once
// Dataset descriptions: the official JSON lists ({"training": [{"image", "label"}], "validation": ...},
// paths relative to the JSON's folder or a given root), MSD-style dataset.json (v1), and nnU-Net v2's
// raw layout: DatasetXXX_Name/imagesTr/CASE_0000.ext (one file per channel, _0000, _0001, ...),
// labelsTr/CASE.ext, imagesTs/, and a dataset.json without a case list that says what the files
// mean: "channel_names" (channel order and normalisation), "labels" (class names; "ignore"; regions
// as lists of values with "regions_class_order"), "file_ending" and "numTraining", all checked
// against the files found. The cross-validation folds: repux/data/splits.h.
#include "repux/data/label_regions.h"
#include "repux/data/preprocess.h"
#include "repux/io/volume.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace repux {

struct CaseFiles {
  std::string image, label;
  // Further input channels in their own files (nnU-Net's _0001, _0002, ...; a JSON "image" list),
  // stacked after `image`'s channel(s). A 4-D image file carries its channels itself.
  std::vector<std::string> more_channels;
};

struct Dataset {
  std::vector<CaseFiles> training, validation, test;
  std::vector<std::string> class_names;    // from "labels" when present, background first, "ignore" left out
                                           // (with regions: the region names)
  std::vector<std::string> channel_names;  // "channel_names" (v2) or "modality" (v1), in channel order
  std::optional<int64_t> ignore_label;     // v2 "ignore": a label value scored by neither loss nor metrics
  LabelRegions regions;                    // v2 region-based labels; empty: plain classes
  std::string file_ending;                 // v2 "file_ending" (empty: every format repux reads)
  std::string description;                 // the dataset.json it was read from, if any
};

// The case identifier nnU-Net uses (splits, output names): the image's file name without its suffix
// and without a trailing _0000.
std::string case_identifier(const CaseFiles& files);

// The cases of a folder of images. When some file ends in _0000 (nnU-Net's naming), each CASE_0000.ext
// starts a case whose further channels are CASE_0001.ext, ... in turn; files of no such case are left
// out, as nnU-Net leaves them. Otherwise each volume file is a case. `file_ending` (e.g. ".nii.gz"),
// when given, is the only ending considered. A case with fewer channels than `channels` (> 0), or
// than the other cases, is an error naming the case and the missing file.
std::vector<CaseFiles> cases_in_folder(const std::string& folder, const std::string& file_ending = "", int64_t channels = 0);

// The normalisation nnU-Net gives a channel by its name: "CT" -> the CT scheme (clipped to the
// dataset's foreground percentiles), "noNorm" -> none, "rescale_to_0_1" -> per-image min-max,
// "rgb_to_0_1" -> divided by 255, anything else ("zscore", "T2", ...) -> per-image z-score. Names are
// compared without case, as nnU-Net does.
Intensity intensity_for_channel(const std::string& channel_name);

// The case's image with every channel: [C, D, H, W] when it has several (files of one grid), else as read.
Volume read_case_image(const CaseFiles& files);

// `path`: a dataset JSON file, or a folder holding dataset.json or imagesTr/labelsTr.
Dataset load_dataset(const std::string& path, const std::string& root = "");
// What a dataset.json says of its data (labels, regions, channels, file ending) without looking for
// any case: the dataset.json of a trained model (an nnU-Net results folder holds one).
Dataset read_dataset_description(const std::string& json_path);

struct DatasetProblem {
  std::string file, problem;
};
// Every case: files readable, shapes and affines of image and label agree, labels within
// 0..classes-1 (or the ignore label), image not constant. Returns all problems found.
std::vector<DatasetProblem> check_dataset(const std::vector<CaseFiles>& cases, int64_t classes, std::optional<int64_t> ignore_label = {});
// The same over the training and validation cases of a dataset, with its ignore label.
std::vector<DatasetProblem> check_dataset(const Dataset& dataset, int64_t classes);
// The classes a dataset's labels name (background included; "ignore" left out; with regions, the label
// values up to the highest of regions_class_order), and, when `given` (--classes) is set too, the two
// checked against each other; 0 when neither says.
int64_t dataset_classes(const Dataset& dataset, std::optional<int64_t> given, const std::string& source);

}  // namespace repux
