// The models a DICOM node serves are loaded onto the device they run on (defect: `serve` and
// `pacs-segment` loaded them on the CPU whatever --device said). Without a GPU the device checked is
// "meta" (tensors without storage, which LibTorch moves to as to any device); with one, CUDA too.
#include "repux/infer/model_routes.h"
#include "tiny_model.h"

#include <gtest/gtest.h>

using namespace repux;
using repux::test::TempDir;

TEST(ModelRoutes, LoadsEachModelOntoTheDeviceItWillRunOn) {
  TempDir dir;
  const std::string ct = test::write_tiny_model(dir, Plan{}, "ct.repux"), other = test::write_tiny_model(dir, Plan{}, "other.repux", 1);
  std::vector<torch::Device> devices{torch::Device("meta")};
  if (torch::cuda::is_available()) devices.emplace_back(torch::kCUDA);
  for (const auto& device : devices) {
    ModelRoutes routes({"CT=" + ct, other}, device);
    for (const char* modality : {"CT", "MR"}) {
      size_t checked = 0;
      for (const auto& p : routes.for_modality(modality).net->parameters()) {
        EXPECT_EQ(p.device().type(), device.type()) << modality;
        ++checked;
      }
      for (const auto& b : routes.for_modality(modality).net->buffers()) EXPECT_EQ(b.device().type(), device.type()) << modality;
      EXPECT_GT(checked, 0u);
    }
    EXPECT_NE(&routes.for_modality("CT"), &routes.for_modality("MR")) << "CT has its own model";
  }
  ModelRoutes ct_only({"CT=" + ct}, torch::kCPU);
  EXPECT_NE(test::error_of([&] { ct_only.for_modality("MR"); }).find("no model serves modality MR"), std::string::npos);
  EXPECT_NE(test::error_of([&] { ModelRoutes({"CT=" + ct, "CT=" + other}, torch::kCPU); }).find("routed twice"), std::string::npos);
}
