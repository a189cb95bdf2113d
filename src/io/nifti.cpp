#include "repux/io/nifti.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"

extern "C" {
#include <nifti2_io.h>
#include <znzlib.h>
}

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

namespace repux {
namespace {

struct NiftiImageDeleter {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NiftiImagePtr = std::unique_ptr<nifti_image, NiftiImageDeleter>;

// The NIfTI datatypes repux reads and writes, with their sample type and range.
struct DatatypeInfo {
  int code;
  SampleType type;
  double min_value;
  double max_value;
};

constexpr DatatypeInfo kDatatypes[] = {
    {DT_UINT8, SampleType::UInt8, 0, 255},
    {DT_INT8, SampleType::Int8, -128, 127},
    {DT_INT16, SampleType::Int16, -32768, 32767},
    {DT_UINT16, SampleType::UInt16, 0, 65535},
    {DT_INT32, SampleType::Int32, -2147483648.0, 2147483647.0},
    {DT_FLOAT32, SampleType::Float32, -std::numeric_limits<float>::max(), std::numeric_limits<float>::max()},
    {DT_FLOAT64, SampleType::Float64, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max()},
};

const DatatypeInfo* find_datatype(int code) {
  for (const auto& d : kDatatypes) {
    if (d.code == code) return &d;
  }
  return nullptr;
}

const DatatypeInfo& datatype_of(SampleType type) {
  for (const auto& d : kDatatypes) {
    if (d.type == type) return d;
  }
  fail("voxel type {} has no NIfTI datatype", enum_name(type));
}

// The LibTorch type a datatype's samples are held in: the same type, except uint16, which LibTorch 1.13
// lacks: int32 (the writer narrows it, the reader widens it itself).
torch::ScalarType stored_dtype(const DatatypeInfo& info) {
  switch (info.code) {
    case DT_FLOAT32: return torch::kFloat32;
    case DT_FLOAT64: return torch::kFloat64;
    case DT_UINT8: return torch::kUInt8;
    case DT_INT8: return torch::kInt8;
    case DT_INT16: return torch::kInt16;
    default: return torch::kInt32;
  }
}

// The voxels [C, D, H, W] (file order permuted to the tensor's) as float32 (float64 for int32 and float64
// files), converted and reordered in one copy from the file's bytes (of shape [C, z, y, x]): the reader
// holds the bytes and the result, no third copy of a large CT.
torch::Tensor to_tensor(const DatatypeInfo& info, void* raw, const std::vector<int64_t>& shape) {
  const std::vector<int64_t> order{0, 3, 2, 1};
  if (info.code == DT_UINT16) {
    // LibTorch 1.13 has no uint16: widen element by element.
    auto out = torch::empty(shape, torch::kFloat32);
    const auto* src = static_cast<const uint16_t*>(raw);
    float* dst = out.data_ptr<float>();
    for (int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = static_cast<float>(src[i]);
    return out.permute(order).contiguous();
  }
  const torch::ScalarType stored = stored_dtype(info);
  const torch::ScalarType result = stored == torch::kInt32 || stored == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  return torch::empty({shape[0], shape[3], shape[2], shape[1]}, result).copy_(torch::from_blob(raw, shape, stored).permute(order));
}

torch::Tensor matrix_to_tensor(const nifti_dmat44& m) {
  auto t = torch::empty({4, 4}, torch::kFloat64);
  auto acc = t.accessor<double, 2>();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = m.m[r][c];
  return t;
}

nifti_dmat44 tensor_to_matrix(const torch::Tensor& affine) {
  nifti_dmat44 m{};
  auto a = affine.to(torch::kCPU, torch::kFloat64).contiguous();
  auto acc = a.accessor<double, 2>();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m.m[r][c] = acc[r][c];
  return m;
}

// nibabel's Analyze-style fallback when neither sform nor qform is set: x flipped, centred grid.
torch::Tensor base_affine(const nifti_image& nim) {
  auto a = torch::eye(4, torch::kFloat64);
  const int64_t dims[3] = {nim.nx, nim.ny, nim.nz};
  const double zooms[3] = {-std::abs(nim.dx), std::abs(nim.dy), std::abs(nim.dz)};
  for (int i = 0; i < 3; ++i) {
    a[i][i] = zooms[i];
    a[i][3] = -(static_cast<double>(dims[i]) - 1.0) / 2.0 * zooms[i];
  }
  return a;
}

// A NaN or zero voxel size would otherwise be read as 1 mm (nifti_clib's fallback) or poison
// every later resampling: the voxel axes must be finite and of a plausible length.
void check_affine(const std::string& path, const torch::Tensor& affine) {
  if (!torch::isfinite(affine).all().item<bool>()) fail("{}: the voxel-to-world matrix (sform/qform/pixdim) has NaN or infinite entries", path);
  for (int axis = 0; axis < 3; ++axis) {
    const double size = affine.index({torch::indexing::Slice(0, 3), axis}).norm().item<double>();
    if (!(size >= 1e-6 && size <= 1e5)) {
      fail("{}: voxel size {} along axis {} (from sform/qform/pixdim), expected between 1e-6 and 1e5", path, size, axis);
    }
  }
}

constexpr uint64_t kMaxVoxels = uint64_t{1} << 48;

// `value` as read from a header in the other byte order when `swap`.
template <typename T>
T as_stored(T value, bool swap) {
  if (!swap) return value;
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  std::reverse(bytes, bytes + sizeof(T));
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

// nifti_clib quietly turns zero dimensions into 1 when it builds a nifti_image: check the header as stored.
void check_raw_dimensions(const std::string& path) {
  int version = 0;
  void* header = nifti_read_header(path.c_str(), &version, 0);
  if (!header) fail("{}: not a readable NIfTI-1/2 file (bad or missing header)", path);
  // nifti_clib decides the byte order from sizeof_hdr alone and swaps every field by it; the fields
  // are checked here as it will read them (a file whose other fields are in the other order gave
  // nifti_clib absurd sizes and crashed it: found by fuzzing).
  int64_t dims[8] = {0};
  double pixdim[8] = {0};
  if (version == 2) {
    const auto* h = static_cast<const nifti_2_header*>(header);
    const bool swap = h->sizeof_hdr != 540;
    for (int d = 0; d < 8; ++d) dims[d] = as_stored(h->dim[d], swap), pixdim[d] = as_stored(h->pixdim[d], swap);
  } else {
    const auto* h = static_cast<const nifti_1_header*>(header);
    const bool swap = h->sizeof_hdr != 348;
    for (int d = 0; d < 8; ++d) dims[d] = as_stored(h->dim[d], swap), pixdim[d] = as_stored(h->pixdim[d], swap);
  }
  free(header);
  if (dims[0] < 1 || dims[0] > 7) fail("{}: header says {} dimensions, expected 1 to 7", path, dims[0]);
  // NIfTI-2 sizes are 64-bit: their product can overflow (found by fuzzing), so it is bounded here,
  // before nifti_clib or this reader multiplies them.
  unsigned __int128 voxels = 1;
  for (int d = 1; d <= dims[0]; ++d) {
    if (dims[d] <= 0) fail("{}: dimension {} has size {}, expected a positive size", path, d, dims[d]);
    voxels *= static_cast<uint64_t>(dims[d]);
    if (voxels > kMaxVoxels) fail("{}: header claims more than 2^48 voxels", path);
  }
  // nifti_clib replaces a zero or NaN voxel size by 1 mm: refuse it here, where it is still visible.
  for (int d = 1; d <= std::min<int64_t>(3, dims[0]); ++d) {
    if (!(std::abs(pixdim[d]) > 0) || !std::isfinite(pixdim[d])) fail("{}: voxel size (pixdim[{}]) is {}, expected a positive number", path, d, pixdim[d]);
  }
}

// The header's claim in bytes, refused when it overflows: a 4 KB file may claim 1400^3 voxels.
size_t claimed_data_bytes(const std::string& path, const nifti_image& nim) {
  if (nim.nvox <= 0 || nim.nbyper <= 0) fail("{}: header claims no voxels", path);
  if (static_cast<uint64_t>(nim.nvox) > kMaxVoxels / static_cast<uint64_t>(nim.nbyper)) {
    fail("{}: header claims {} voxels, more than any image this program can hold", path, nim.nvox);
  }
  return static_cast<size_t>(nim.nvox) * static_cast<size_t>(nim.nbyper);
}

// Reads `nbytes` from `fp` without trusting that they exist: memory grows only as data arrives,
// so a small file with a huge claimed size fails on its missing data before any large allocation.
size_t read_available(znzFile fp, std::vector<uint8_t>& buffer, size_t nbytes) {
  constexpr size_t kStep = size_t{64} << 20;
  size_t got = 0;
  while (got < nbytes) {
    buffer.resize(std::min(nbytes, std::max(got * 2, got + kStep)));
    const size_t n = znzread(buffer.data() + got, 1, buffer.size() - got, fp);
    got += n;
    if (got < buffer.size()) break;
  }
  buffer.resize(got);
  return got;
}

// Reads the voxel bytes ourselves: nifti_image_load replaces NaN and Inf by 0, which would hide bad data.
std::vector<uint8_t> read_voxel_bytes(const std::string& path, const nifti_image& nim) {
  const size_t nbytes = claimed_data_bytes(path, nim);
  const bool gzipped = nifti_is_gzfile(nim.iname);
  std::error_code ec;
  const auto on_disk = std::filesystem::file_size(nim.iname, ec);
  const uint64_t offset = static_cast<uint64_t>(std::max<int64_t>(0, nim.iname_offset));
  if (!gzipped && !ec && on_disk < offset + nbytes) {
    fail("{}: image data is truncated ({} of {} bytes)", path, on_disk > offset ? on_disk - offset : 0, nbytes);
  }
  std::vector<uint8_t> buffer;
  znzFile fp = znzopen(nim.iname, "rb", gzipped);
  if (znz_isnull(fp)) fail("{}: cannot open the image data", path);
  const bool positioned = znzseek(fp, static_cast<znz_off_t>(nim.iname_offset), SEEK_SET) >= 0;
  const size_t got = positioned ? read_available(fp, buffer, nbytes) : 0;
  znzclose(fp);
  if (got != nbytes) fail("{}: image data is truncated ({} of {} bytes)", path, got, nbytes);
  if (nim.byteorder != nifti_short_order()) {
    int nbyper = 0, swapsize = 0;
    nifti_datatype_sizes(nim.datatype, &nbyper, &swapsize);
    if (swapsize > 1) nifti_swap_Nbytes(static_cast<int64_t>(nim.nvox), swapsize, buffer.data());
  }
  return buffer;
}

// nifti_image_write reports no errors (a full disk leaves a truncated gzip stream behind), so the
// written file is read back to its end: its length must be the header plus every voxel, and a
// compressed stream must end with a valid checksum.
void verify_written(const std::string& file, size_t expected_bytes, const std::string& destination) {
  size_t total = 0;
  bool damaged = false;
  if (nifti_is_gzfile(file.c_str())) {
    gzFile gz = gzopen(file.c_str(), "rb");
    if (!gz) fail("cannot write {}: the written file cannot be opened", destination);
    std::vector<char> chunk(size_t{4} << 20);
    int n = 0;
    while ((n = gzread(gz, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0) total += static_cast<size_t>(n);
    damaged = n < 0;
    damaged = gzclose(gz) != Z_OK || damaged;
  } else {
    std::error_code ec;
    total = static_cast<size_t>(std::filesystem::file_size(file, ec));
    damaged = static_cast<bool>(ec);
  }
  if (damaged || total < expected_bytes) {
    fail("cannot write {}: only {} of {} bytes reached the disk (disk full or I/O error)", destination, total, expected_bytes);
  }
}

}  // namespace

const NiftiDetails* nifti_details(const Volume& volume) { return std::any_cast<NiftiDetails>(&volume.format_details); }

Volume read_nifti(const std::string& path, const VolumeReadOptions& options) {
  nifti_set_debug_level(0);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("{}: file not found", path);
  if (std::filesystem::is_directory(path, ec)) fail("{}: is a directory, expected a NIfTI file", path);
  check_raw_dimensions(path);
  NiftiImagePtr nim(nifti_image_read(path.c_str(), 0));
  if (!nim) fail("{}: not a readable NIfTI-1/2 file (bad or missing header)", path);
  if (nim->nifti_type == NIFTI_FTYPE_ANALYZE) fail("{}: is an Analyze 7.5 file, expected NIfTI-1 or NIfTI-2", path);
  const auto* info = find_datatype(nim->datatype);
  if (!info) {
    fail("{}: datatype {} ({}) is not supported, expected uint8, int8, int16, uint16, int32, float32 or float64",
         path, nifti_datatype_to_string(nim->datatype), nim->datatype);
  }
  int64_t channels = 1;
  for (int d = 4; d <= 7; ++d) channels *= std::max<int64_t>(1, nim->dim[0] >= d ? nim->dim[d] : 1);
  if (channels > 1 && !options.allow_channels) {
    fail("{}: has {} volumes along dimensions 4-7, expected a single 3-D volume", path, channels);
  }
  if (channels * nim->nx * nim->ny * nim->nz != nim->nvox) fail("{}: header's voxel count does not match its dimensions", path);
  const std::vector<uint8_t> raw = read_voxel_bytes(path, *nim);
  const std::vector<int64_t> file_shape{channels, nim->nz, nim->ny, nim->nx};
  torch::Tensor data = to_tensor(*info, const_cast<uint8_t*>(raw.data()), file_shape);
  const bool scaled = std::isfinite(nim->scl_slope) && nim->scl_slope != 0.0 &&
                      (nim->scl_slope != 1.0 || (std::isfinite(nim->scl_inter) && nim->scl_inter != 0.0));
  if (scaled) {
    const double inter = std::isfinite(nim->scl_inter) ? nim->scl_inter : 0.0;
    data.mul_(nim->scl_slope).add_(inter);
  }
  const bool may_be_nonfinite = scaled || info->code == DT_FLOAT32 || info->code == DT_FLOAT64;
  if (!options.allow_nonfinite && may_be_nonfinite && !torch::isfinite(data).all().item<bool>()) {
    const int64_t bad = data.numel() - torch::isfinite(data).sum().item<int64_t>();
    fail("{}: contains {} NaN or infinite voxels, expected finite intensities", path, bad);
  }
  if (channels == 1) data = data.squeeze(0);

  Volume volume;
  volume.data = data;
  if (nim->sform_code > 0) {
    volume.affine = matrix_to_tensor(nim->sto_xyz);
  } else if (nim->qform_code > 0) {
    volume.affine = matrix_to_tensor(nim->qto_xyz);
  } else {
    volume.affine = base_affine(*nim);
  }
  check_affine(path, volume.affine);
  volume.sample_type = info->type;
  if (scaled) volume.scaling = {nim->scl_slope, std::isfinite(nim->scl_inter) ? nim->scl_inter : 0.0};
  volume.description = std::string(nim->descrip, strnlen(nim->descrip, sizeof(nim->descrip)));
  NiftiDetails details;
  details.qform_code = nim->qform_code;
  details.sform_code = nim->sform_code;
  details.xyz_units = nim->xyz_units;
  details.version = (nim->nifti_type == NIFTI_FTYPE_NIFTI2_1 || nim->nifti_type == NIFTI_FTYPE_NIFTI2_2) ? 2 : 1;
  volume.format_details = details;
  return volume;
}

namespace {

// The voxels in file order (i fastest) as the stored values of `info`: integers unscaled, rounded and
// range-checked; floats checked finite. Converted a few slices (along the file's slowest axis) at a time
// into the stored type, so that a 157M-voxel label map needs its stored bytes and a few slices of
// float64, not several float64 copies of the whole volume.
torch::Tensor stored_values(const Volume& volume, const DatatypeInfo& info, const std::string& path) {
  const torch::Tensor data = volume.data.dim() == 3 ? volume.data.unsqueeze(0) : volume.data;
  const int64_t slices = data.size(3), slice_voxels = data.size(1) * data.size(2);
  const int64_t chunk = std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(1, slice_voxels));  // ~32 MB of float64
  auto out = torch::empty({data.size(0), slices, data.size(2), data.size(1)}, torch::TensorOptions().dtype(stored_dtype(info)));
  for (int64_t c = 0; c < data.size(0); ++c) {
    for (int64_t k = 0; k < slices; k += chunk) {
      const int64_t n = std::min(chunk, slices - k);
      auto values = data[c].narrow(2, k, n).to(torch::kCPU, torch::kFloat64).permute({2, 1, 0});
      if (!is_integer(volume.sample_type)) {
        if (!torch::isfinite(values).all().item<bool>()) fail("cannot write {}: data contains NaN or infinite values", path);
      } else {
        values = ((values - volume.scaling.intercept) / volume.scaling.slope).round();
        const double lo = values.min().item<double>(), hi = values.max().item<double>();
        if (lo < info.min_value || hi > info.max_value) {
          fail("cannot write {}: values span [{}, {}] (slices from k = {}), outside the range of {}", path, lo, hi, k, enum_name(volume.sample_type));
        }
      }
      out[c].narrow(0, k, n).copy_(values);
    }
  }
  return out;
}

// Geometry (qform from the affine's rotation, sform = the affine), codes, scaling and description.
void fill_header(nifti_image& nim, const Volume& volume) {
  const NiftiDetails details = nifti_details(volume) ? *nifti_details(volume) : NiftiDetails{};
  const nifti_dmat44 affine = tensor_to_matrix(volume.affine);
  const auto spacing = volume.spacing();
  double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
  nifti_dmat44_to_quatern(affine, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
  nim.quatern_b = qb; nim.quatern_c = qc; nim.quatern_d = qd;
  nim.qoffset_x = qx; nim.qoffset_y = qy; nim.qoffset_z = qz;
  nim.qfac = qfac;
  nim.dx = nim.pixdim[1] = spacing[0];
  nim.dy = nim.pixdim[2] = spacing[1];
  nim.dz = nim.pixdim[3] = spacing[2];
  nim.pixdim[0] = qfac;
  nim.qform_code = details.qform_code;
  nim.sform_code = details.sform_code;
  nim.qto_xyz = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac);
  nim.qto_ijk = nifti_dmat44_inverse(nim.qto_xyz);
  nim.sto_xyz = affine;
  nim.sto_ijk = nifti_dmat44_inverse(affine);
  const bool integer = is_integer(volume.sample_type);
  nim.scl_slope = integer ? volume.scaling.slope : 1.0;
  nim.scl_inter = integer ? volume.scaling.intercept : 0.0;
  nim.xyz_units = details.xyz_units;
  nim.nifti_type = details.version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
  std::snprintf(nim.descrip, sizeof(nim.descrip), "%s", volume.description.c_str());
}

}  // namespace

void write_nifti(const Volume& volume, const std::string& path) {
  nifti_set_debug_level(0);
  const DatatypeInfo& info = datatype_of(volume.sample_type);
  if (volume.data.dim() != 3 && volume.data.dim() != 4) {
    fail("cannot write {}: data has {} dimensions, expected 3 or 4", path, volume.data.dim());
  }
  const torch::Tensor raw = stored_values(volume, info, path);
  std::vector<uint16_t> narrowed;
  void* raw_ptr = raw.data_ptr();
  if (info.code == DT_UINT16) {
    narrowed.resize(raw.numel());
    const int32_t* src = raw.data_ptr<int32_t>();
    for (size_t i = 0; i < narrowed.size(); ++i) narrowed[i] = static_cast<uint16_t>(src[i]);
    raw_ptr = narrowed.data();
  }
  const auto shape = volume.spatial_shape();
  const int64_t channels = volume.channels();
  int64_t dims[8] = {channels > 1 ? 4 : 3, shape[0], shape[1], shape[2], channels, 1, 1, 1};
  NiftiImagePtr nim(nifti_make_new_nim(dims, info.code, 0));
  if (!nim) fail("cannot write {}: nifti_clib could not create a header", path);
  fill_header(*nim, volume);

  AtomicFile out(path);
  if (nifti_set_filenames(nim.get(), out.temporary_path().c_str(), 0, 1) != 0) {
    fail("cannot write {}: expected a name ending in .nii or .nii.gz", path);
  }
  nim->data = raw_ptr;
  nifti_image_write(nim.get());
  nim->data = nullptr;  // owned by the tensor, not by nifti_clib
  verify_written(out.temporary_path(), static_cast<size_t>(nim->iname_offset) + raw.numel() * static_cast<size_t>(nim->nbyper), path);
  out.commit();
}

}  // namespace repux
