#include "repux/data/nnunet_preprocess.h"

#include "repux/error.h"

#include <vector>

namespace repux {

torch::Tensor fill_holes(const torch::Tensor& mask) {
  if (mask.dim() != 3) fail("fill_holes expects a [D,H,W] mask, got {} dimensions", mask.dim());
  const auto m = mask.to(torch::kBool).contiguous().cpu();
  const int64_t d = m.size(0), h = m.size(1), w = m.size(2);
  const bool* in = m.data_ptr<bool>();
  auto out = torch::ones({d, h, w}, torch::kBool);
  bool* outside = out.data_ptr<bool>();  // cleared where the background reaches the border
  std::vector<int64_t> stack;
  const auto visit = [&](int64_t z, int64_t y, int64_t x) {
    if (z < 0 || y < 0 || x < 0 || z >= d || y >= h || x >= w) return;
    const int64_t i = (z * h + y) * w + x;
    if (in[i] || !outside[i]) return;
    outside[i] = false;
    stack.push_back(i);
  };
  for (int64_t z = 0; z < d; ++z)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        if (z == 0 || y == 0 || x == 0 || z == d - 1 || y == h - 1 || x == w - 1) visit(z, y, x);
      }
  while (!stack.empty()) {
    const int64_t i = stack.back();
    stack.pop_back();
    const int64_t z = i / (h * w), y = i / w % h, x = i % w;
    visit(z - 1, y, x), visit(z + 1, y, x), visit(z, y - 1, x), visit(z, y + 1, x), visit(z, y, x - 1), visit(z, y, x + 1);
  }
  return out.to(mask.device());
}

namespace {

// ZScoreNormalization with use_mask_for_norm: numpy's mean and std (ddof 0) over the mask, applied
// inside it only.
torch::Tensor masked_zscore(const torch::Tensor& x, const torch::Tensor& mask) {
  const auto values = x.masked_select(mask).to(torch::kFloat64);
  if (values.numel() == 0) return x;
  const double mean = values.mean().item<double>(), sd = values.std(/*unbiased=*/false).item<double>();
  return torch::where(mask, (x - mean) / std::max(sd, 1e-8), x);
}

// Each channel as nnU-Net's normalisation scheme does it; `mask` is the filled non-zero mask.
torch::Tensor normalised(const torch::Tensor& x, const PreprocessRecipe& r, const torch::Tensor& mask) {
  std::vector<torch::Tensor> channels;
  for (int64_t c = 0; c < x.size(0); ++c) {
    const auto xc = x[c];
    switch (r.intensity) {
      case Intensity::CtNormalization: channels.push_back((xc.clamp(r.window_min, r.window_max) - r.ct_mean) / std::max(r.ct_std, 1e-8)); break;
      case Intensity::ZScore: channels.push_back(masked_zscore(xc, mask)); break;
      case Intensity::ZScoreAll: channels.push_back(masked_zscore(xc, torch::ones_like(mask))); break;
      case Intensity::Rescale: {
        const auto shifted = xc - xc.min();
        channels.push_back(shifted / std::max(shifted.max().item<double>(), 1e-8));
        break;
      }
      case Intensity::Rgb: channels.push_back(xc / 255.0); break;
      case Intensity::None: channels.push_back(xc); break;
      case Intensity::Ct: fail("the CT window of repux's own recipe is not one of nnU-Net's normalisation schemes");
    }
  }
  return torch::stack(channels);
}

// The affine of the resampled crop: output voxel o lies at the crop's voxel (o + 0.5) * in / out - 0.5.
torch::Tensor resampled_affine(const torch::Tensor& affine, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& in,
                               const std::array<int64_t, 3>& out) {
  auto map = torch::eye(4, torch::kFloat64);
  for (int a = 0; a < 3; ++a) {
    const double s = static_cast<double>(in[a]) / static_cast<double>(out[a]);
    map[a][a] = s;
    map[a][3] = static_cast<double>(start[a]) + (s - 1.0) / 2.0;
  }
  return torch::matmul(affine.to(torch::kFloat64), map);
}

}  // namespace

PreparedCase preprocess_as_nnunet(const Volume& image, const PreprocessRecipe& r) {
  if (!r.spacing) fail("an nnU-Net preprocessing recipe needs the configuration's spacing");
  PreparedCase out;
  auto& t = out.trace;
  t.original = {image.affine.clone(), image.spatial_shape()};
  const Volume img = r.orient_ras ? reorient_to_ras(image, &t.orientation) : image;
  t.ras = {img.affine.clone(), img.spatial_shape()};
  auto x = img.data.to(torch::kFloat32);
  if (x.dim() == 3) x = x.unsqueeze(0);

  const auto nonzero = (x != 0).any(0);
  bounding_box(nonzero, t.crop_start, t.crop_size);
  x = crop_or_pad(x, t.crop_start, t.crop_size, 0.0);
  const bool needs_mask = r.intensity == Intensity::ZScore;
  const auto mask = needs_mask ? fill_holes(crop_or_pad(nonzero.to(torch::kUInt8), t.crop_start, t.crop_size, 0.0)) : torch::Tensor();
  x = normalised(x, r, mask);

  const auto spacing = affine_spacing(img.affine);
  const auto new_shape = nnunet_new_shape(t.crop_size, spacing, *r.spacing);
  out.image = nnunet_resample(x, new_shape, spacing, *r.spacing, r.resampling);
  t.resampled = {resampled_affine(img.affine, t.crop_start, t.crop_size, new_shape), new_shape};
  return out;
}

torch::Tensor restore_as_nnunet(torch::Tensor logits, const PreprocessTrace& t, const PreprocessRecipe& r, bool regions, bool float16_logits) {
  if (logits.dim() != 4) fail("restoring nnU-Net logits: expected [K, D, H, W], got {} dimensions", logits.dim());
  const auto original_spacing = affine_spacing(t.ras.affine);
  auto p = nnunet_resample(logits.cpu(), t.crop_size, *r.spacing, original_spacing, r.probability_resampling);
  if (p.is_same(logits)) p = p.clone();  // not resampled: logits a caller still holds stay as they are
  logits = torch::Tensor();
  if (float16_logits) p.copy_(p.to(torch::kHalf));
  if (regions) {
    p.sigmoid_();
  } else {  // softmax in place: a second K x D x H x W copy would be the job's peak
    p.sub_(std::get<0>(p.max(0, true))).exp_();
    p.div_(p.sum(0, true));
  }
  const auto& shape = t.ras.shape;
  if (t.crop_size == shape) return undo_reorientation(p, t.orientation);
  auto full = torch::zeros({p.size(0), shape[0], shape[1], shape[2]}, p.options());
  if (!regions) full[0].fill_(1.0);
  full.slice(1, t.crop_start[0], t.crop_start[0] + t.crop_size[0])
      .slice(2, t.crop_start[1], t.crop_start[1] + t.crop_size[1])
      .slice(3, t.crop_start[2], t.crop_start[2] + t.crop_size[2])
      .copy_(p);
  p = torch::Tensor();
  return undo_reorientation(full, t.orientation);
}

}  // namespace repux
