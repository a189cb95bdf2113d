// The network-family interface, proved by a third family that exists only in this test: registered
// by name, it is built, saved, loaded, predicted with and fine-tuned through the same code paths as
// RepUX-Net and ResEnc, with nothing else in the library knowing it.
#include "repux/data/synth.h"
#include "repux/error.h"
#include "repux/infer/predictor.h"
#include "repux/model/model_file.h"
#include "repux/nn/network_family.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace repux;

namespace {

// A per-voxel linear classifier: one 1x1x1 convolution, which is also its output head.
struct PointwiseImpl : SegmenterImpl {
  explicit PointwiseImpl(const NetworkConfig& c) : SegmenterImpl(c) {
    head = register_module("head", torch::nn::Conv3d(torch::nn::Conv3dOptions(config.in_channels, config.out_channels, 1)));
  }
  std::vector<torch::Tensor> encoder_stages(const torch::Tensor& x) override { return {x}; }
  torch::nn::Conv3d head{nullptr};

 protected:
  torch::Tensor run(const torch::Tensor& x) override { return head(x); }
  void replace_output_head(int64_t out_channels) override {
    head = replace_module("head", torch::nn::Conv3d(torch::nn::Conv3dOptions(config.in_channels, out_channels, 1)));
  }
};

NetworkFamily pointwise_family() {
  NetworkFamily f;
  f.name = "pointwise";
  f.summary = "a per-voxel linear classifier (tests only)";
  f.resolve = [](NetworkConfig& c) {
    if (!c.dims.empty() || !c.depths.empty()) fail("dims and depths do not apply to pointwise");
  };
  f.build = [](const NetworkConfig& c) { return make_segmenter<PointwiseImpl>(c); };
  f.check_stored = [](const NetworkConfig& c, const StoredShapes& t) {
    t.expect("head.weight", 0, c.out_channels, "out_channels =");
    t.expect("head.weight", 1, c.in_channels, "in_channels =");
  };
  return f;
}

// Registered once per process (the registry refuses a second registration of a name).
void ensure_registered() {
  static const bool registered = [] {
    register_network_family(pointwise_family());
    return true;
  }();
  (void)registered;
}

}  // namespace

TEST(NetworkFamily, AFamilyRegisteredByNameIsBuiltSavedLoadedAndPredictedWith) {
  ensure_registered();
  test::TempDir dir;
  Plan plan;
  plan.network.arch = "pointwise";
  plan.network.out_channels = 3;
  plan.patch = {16, 16, 16};
  plan.preprocessing.crop_foreground = false;
  Segmenter net = create_network(plan.network);
  ASSERT_NE(dynamic_cast<PointwiseImpl*>(net.get()), nullptr);
  EXPECT_EQ(net->forward(torch::zeros({1, 1, 16, 16, 32})).sizes(), (std::vector<int64_t>{1, 3, 16, 16, 32}));
  EXPECT_THROW(net->forward(torch::zeros({1, 1, 16, 16, 20})), Error);  // the interface's input check

  save_model(net, ModelInfo{plan, {}}, dir.file("pointwise.repux"));
  LoadedModel loaded = load_model(dir.file("pointwise.repux"));
  EXPECT_EQ(loaded.info.plan.network.arch, "pointwise");
  auto* read_back = dynamic_cast<PointwiseImpl*>(loaded.net.get());
  ASSERT_NE(read_back, nullptr);
  EXPECT_TRUE(torch::equal(read_back->head->weight, dynamic_cast<PointwiseImpl*>(net.get())->head->weight));

  // predict: the argmax of the linear map at every voxel (no resampling, no crop, one window).
  SynthOptions so;
  so.min_size = 24;
  so.max_size = 24;
  const auto c = make_synthetic_case(3, so);
  const Prediction p = predict_volume(loaded, c.image, PredictOptions{});
  EXPECT_EQ(p.labels.spatial_shape(), c.image.spatial_shape());
  EXPECT_GT(p.windows, 0);

  // Fine-tuning replaces the head through the interface.
  loaded.net->replace_head(5);
  EXPECT_EQ(loaded.net->config.out_channels, 5);
  EXPECT_EQ(read_back->head->weight.size(0), 5);
}

TEST(NetworkFamily, TheRegistryRefusesATakenNameAndWhatAFamilyDoesNotUse) {
  ensure_registered();
  EXPECT_EQ(test::error_of([] { register_network_family(pointwise_family()); }), "network family 'pointwise' is already registered");
  NetworkConfig c;
  c.arch = "pointwise";
  c.dims = {8, 16};
  EXPECT_EQ(test::error_of([&] { c.resolved(); }), "dims and depths do not apply to pointwise");
  const auto names = network_family_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "pointwise"), names.end());
}
