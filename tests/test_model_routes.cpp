// The models a DICOM node serves are loaded onto the device they run on (defect: `serve` and
// `pacs-segment` loaded them on the CPU whatever --device said). With a GPU the tensors are checked to be
// on CUDA; without one, `repux serve --device cuda` must fail before it listens (the old code
// listened, its model on the CPU): now at the device itself, before any model is read.
#include "repux/infer/model_routes.h"
#include "tiny_model.h"
#include "repux/dist/communicator.h"

#include <gtest/gtest.h>

using namespace repux;
using repux::test::TempDir;

TEST(ModelRoutes, LoadsEachModelOntoTheDeviceItWillRunOn) {
  TempDir dir;
  const std::string ct = test::write_tiny_model(dir, Plan{}, "ct.repux"), other = test::write_tiny_model(dir, Plan{}, "other.repux", 1);
  std::vector<torch::Device> devices{torch::kCPU};
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

TEST(ModelRoutes, ServeWithACudaDeviceLoadsItsModelThereBeforeListening) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is here: the tensors are checked on it above";
  TempDir dir;
  const std::string model = test::write_tiny_model(dir, Plan{}, "ct.repux");
  // Bounded: the old code would listen until killed.
  const auto r = test::run_command("timeout 120 " + std::string(REPUX_BINARY) + " serve -m " + model + " --device cuda --port " + std::to_string(free_tcp_port()) +
                                 " --allow SENDER --forward-to DEST@127.0.0.1:1 --spool " + dir.file("spool") + " 2>&1 </dev/null");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("listening"), std::string::npos) << "the node listened with a model it could not put on CUDA: " << r.output;
  // Refused at the device, before any model is read: a build without CUDA says so, one with it but no
  // device visible says that (`device_from_name`).
  EXPECT_TRUE(r.output.find("--device cuda: this build of repux has no CUDA") != std::string::npos ||
              r.output.find("--device cuda: no CUDA device is visible") != std::string::npos)
      << r.output;
}
