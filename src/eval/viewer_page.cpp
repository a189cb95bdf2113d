#include "repux/eval/viewer_page.h"

#include "repux/error.h"
#include "repux/eval/preview.h"
#include "repux/io/atomic_file.h"
#include "repux/io/nifti.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace repux {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read {}", path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out += alphabet[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (two ? uint8_t(bytes[i + 1]) << 8 : 0);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += two ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The volume as a gzipped NIfTI, base64: what NiiVue's NVImage.loadFromBase64 reads.
std::string nifti_base64(const Volume& volume, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("repux-view-{}-{}", ::getpid(), reinterpret_cast<uintptr_t>(&volume));
  fs::create_directories(dir);
  const std::string path = (dir / (name + ".nii.gz")).string();
  std::string bytes;
  try {
    Volume first = volume;
    if (first.data.dim() == 4) first.data = first.data[0];  // the first channel of a multi-channel image
    write_nifti(first, path);
    bytes = read_bytes(path);
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
  fs::remove_all(dir);
  return base64(bytes);
}

nlohmann::json colour_json(const Rgb& c) { return {c[0], c[1], c[2]}; }

// The classes a label map may hold: 1.. the highest of the names given and the values present.
nlohmann::json classes_json(const ViewerInput& in) {
  int64_t top = static_cast<int64_t>(in.class_names.size()) - 1;
  for (const Volume* v : {in.prediction, in.truth}) {
    if (v) top = std::max(top, v->data.max().item<int64_t>());
  }
  nlohmann::json classes = nlohmann::json::array();
  for (int64_t c = 1; c <= top; ++c) {
    std::string name;
    if (c < static_cast<int64_t>(in.class_names.size())) name = in.class_names[c];
    else if (in.prediction) name = label_name(*in.prediction, c);
    else name = label_name(*in.truth, c);
    classes.push_back({{"value", c}, {"name", name}, {"rgb", colour_json(label_colour(c))}});
  }
  return classes;
}

// Where the page opens: the centre of the labelled voxels (world mm), as the previews choose their
// slices; null (NiiVue's centre of the volume) when no label map has any.
nlohmann::json labelled_centre(const ViewerInput& in) {
  for (const Volume* v : {in.prediction, in.truth}) {
    if (!v) continue;
    const auto where = torch::nonzero(v->data).to(torch::kFloat64);
    if (where.size(0) == 0) continue;
    const auto voxel = torch::cat({where.mean(0), torch::ones({1}, torch::kFloat64)});
    const auto mm = torch::matmul(v->affine.to(torch::kFloat64), voxel);
    return {mm[0].item<double>(), mm[1].item<double>(), mm[2].item<double>()};
  }
  return nullptr;
}

nlohmann::json page_data(const ViewerInput& in, const ViewerPageOptions& options) {
  nlohmann::json layers = nlohmann::json::array();
  auto add = [&](const std::string& kind, const std::string& name, const Volume& v, bool visible) {
    layers.push_back({{"kind", kind}, {"name", name}, {"visible", visible}, {"base64", nifti_base64(v, kind)}});
  };
  add("image", in.title, *in.image, true);
  if (in.truth) add("truth", "ground truth", *in.truth, in.prediction == nullptr);
  if (in.prediction) add("prediction", "prediction", *in.prediction, true);
  if (in.prediction && in.truth) add("errors", "errors", error_map(*in.prediction, *in.truth), true);
  return {{"title", in.title},
          {"ct", choose_window(*in.image).name.find("CT") != std::string::npos},
          {"opacity", options.label_opacity},
          {"classes", classes_json(in)},
          {"centre", labelled_centre(in)},
          {"errors",
           {{{"value", kFalsePositive}, {"name", "false positive"}, {"rgb", colour_json(kFalsePositiveColour)}},
            {{"value", kFalseNegative}, {"name", "false negative"}, {"rgb", colour_json(kFalseNegativeColour)}}}},
          {"layers", layers}};
}

// JSON inside a <script> element: "<" escaped so that no name can close the element.
std::string script_json(const nlohmann::json& j) {
  std::string text = j.dump();
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The page's own script: builds the viewer from window.REPUX_VIEW. A failure shows in #status (and in
// the console) as "error: ..."; "ready" once every layer is drawn.
const char* kViewerScript = R"JS(
(async function () {
  const status = document.getElementById('status');
  const report = (text) => { status.textContent = text; document.body.dataset.state = text.startsWith('error') ? 'error' : text; };
  window.addEventListener('error', (e) => report('error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => report('error: ' + (e.reason && e.reason.message || e.reason)));
  try {
    const view = window.REPUX_VIEW;
    // Radiological convention (the patient's right on the screen's left), as the previews and PACS viewers.
    const nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isColorbar: false, logLevel: 'error',
                                   multiplanarShowRender: niivue.SHOW_RENDER.ALWAYS, isRadiologicalConvention: true });
    await nv.attachTo('gl');
    nv.setSliceType(nv.sliceTypeMultiplanar);
    const lut = (colours) => {  // label value -> RGBA, for NVImage.setColormapLabel
      const cm = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: [''] };
      for (const c of colours) { cm.I.push(c.value); cm.R.push(c.rgb[0]); cm.G.push(c.rgb[1]); cm.B.push(c.rgb[2]); cm.A.push(255); cm.labels.push(c.name); }
      return cm;
    };
    const errorClasses = view.errors;  // [{value, name, rgb}]: the error layer's values
    const layers = [];
    for (const layer of view.layers) {
      const img = await niivue.NVImage.loadFromBase64({ base64: layer.base64, name: layer.kind + '.nii.gz' });
      if (layer.kind !== 'image') {
        img.colormapLabelSource = layer.kind === 'errors' ? errorClasses : view.classes;
        img.setColormapLabel(lut(img.colormapLabelSource));
        img.opacity = layer.visible ? view.opacity : 0;
      }
      nv.addVolume(img);
      layers.push({ layer, img });
    }
    const image = layers[0].img;
    const defaults = { min: image.cal_min, max: image.cal_max };

    // Layers: visibility and opacity.
    const layerList = document.getElementById('layers');
    layers.slice(1).forEach(({ layer, img }, k) => {
      const row = document.createElement('div');
      row.innerHTML = `<label><input type="checkbox" ${layer.visible ? 'checked' : ''}> ${layer.name}</label>
                       <input type="range" min="0" max="1" step="0.05" value="${view.opacity}">`;
      const [box, slider] = row.querySelectorAll('input');
      const apply = () => { nv.setOpacity(k + 1, box.checked ? Number(slider.value) : 0); };
      box.addEventListener('change', apply);
      slider.addEventListener('input', apply);
      layerList.appendChild(row);
    });

    // The legend: per class colour, visibility and opacity (the label tables' alpha).
    const legend = document.getElementById('legend');
    const setClass = (value, alpha) => {
      for (const { layer, img } of layers.slice(1)) {
        if (layer.kind === 'errors') continue;
        const cm = lut(img.colormapLabelSource);
        const i = cm.I.indexOf(value);
        img.classAlpha = img.classAlpha || {};
        img.classAlpha[value] = alpha;
        cm.A = cm.A.map((a, j) => (j === 0 ? 0 : Math.round(255 * (img.classAlpha[cm.I[j]] ?? 1))));
        img.setColormapLabel(cm);
      }
      nv.updateGLVolume();
    };
    const swatch = (rgb) => `<span class="swatch" style="background: rgb(${rgb.join(',')})"></span>`;
    for (const c of view.classes) {
      const row = document.createElement('div');
      row.className = 'class';
      row.dataset.rgb = c.rgb.join(',');
      row.innerHTML = `<label><input type="checkbox" checked> ${swatch(c.rgb)} ${c.value} ${c.name}</label>
                       <input type="range" min="0" max="1" step="0.05" value="1">`;
      const [box, slider] = row.querySelectorAll('input');
      const apply = () => setClass(c.value, box.checked ? Number(slider.value) : 0);
      box.addEventListener('change', apply);
      slider.addEventListener('input', apply);
      legend.appendChild(row);
    }
    if (layers.some(({ layer }) => layer.kind === 'errors')) {
      for (const c of errorClasses) {
        const row = document.createElement('div');
        row.className = 'class';
        row.dataset.rgb = c.rgb.join(',');
        row.innerHTML = `${swatch(c.rgb)} ${c.name}`;
        legend.appendChild(row);
      }
    }

    // Windows: the image's own range, and for a CT the usual presets (width/level in HU).
    const windows = [['auto', null]];
    if (view.ct) windows.push(['abdomen', [400, 40]], ['lung', [1500, -600]], ['bone', [1800, 400]], ['brain', [80, 40]]);
    const windowBar = document.getElementById('windows');
    for (const [name, wl] of windows) {
      const button = document.createElement('button');
      button.textContent = name;
      button.addEventListener('click', () => {
        image.cal_min = wl ? wl[1] - wl[0] / 2 : defaults.min;
        image.cal_max = wl ? wl[1] + wl[0] / 2 : defaults.max;
        nv.updateGLVolume();
      });
      windowBar.appendChild(button);
    }
    if (view.ct) { image.cal_min = 40 - 200; image.cal_max = 40 + 200; }
    if (view.centre) nv.scene.crosshairPos = nv.mm2frac(view.centre);
    nv.updateGLVolume();
    nv.onLocationChange = (data) => { document.getElementById('location').textContent = data.string; };
    requestAnimationFrame(() => requestAnimationFrame(() => report('ready')));
  } catch (e) {
    report('error: ' + (e && e.message || e));
    console.error(e);
  }
})();
)JS";

const char* kViewerStyle = R"CSS(
body { margin: 0; font: 14px sans-serif; background: #111; color: #ddd; display: flex; height: 100vh; }
#side { width: 280px; padding: 10px; overflow-y: auto; box-sizing: border-box; }
#view { flex: 1; position: relative; }
canvas { width: 100%; height: 100%; display: block; }
h1 { font-size: 16px; margin: 0 0 8px; word-break: break-all; }
h2 { font-size: 13px; margin: 14px 0 4px; color: #aaa; text-transform: uppercase; }
.swatch { display: inline-block; width: 14px; height: 14px; vertical-align: middle; border: 1px solid #000; }
.class, #layers div { display: flex; justify-content: space-between; align-items: center; margin: 2px 0; }
input[type=range] { width: 90px; }
button { margin: 2px; background: #333; color: #ddd; border: 1px solid #555; }
#status, #location { color: #888; font-size: 12px; margin-top: 8px; }
)CSS";

}  // namespace

Volume error_map(const Volume& prediction, const Volume& truth) {
  if (prediction.data.sizes() != truth.data.sizes()) {
    fail("prediction {} and ground truth {} differ in shape", fmt::join(prediction.data.sizes(), "x"), fmt::join(truth.data.sizes(), "x"));
  }
  const auto p = prediction.data.to(torch::kInt64), t = truth.data.to(torch::kInt64);
  auto errors = torch::zeros_like(p, torch::kUInt8);
  errors.masked_fill_((p != 0) & (p != t), kFalsePositive);
  errors.masked_fill_((t != 0) & (p == 0), kFalseNegative);
  Volume out;
  out.data = errors;
  out.affine = prediction.affine;
  out.sample_type = SampleType::UInt8;
  out.label_names = {"", "false positive", "false negative"};
  return out;
}

std::string niivue_bundle_path() {
  const char* relative = "share/repux/niivue/niivue.umd.js";
  std::vector<fs::path> places;
  if (const char* given = std::getenv("REPUX_NIIVUE"); given && *given) places.emplace_back(given);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    places.push_back(exe.parent_path() / relative);
    places.push_back(exe.parent_path().parent_path() / relative);
  }
  places.push_back(fs::path("/usr/local") / relative);
  places.push_back(fs::path("/usr") / relative);
  std::string looked;
  for (const auto& p : places) {
    if (fs::is_regular_file(p, ec)) return p.string();
    looked += (looked.empty() ? "" : ", ") + p.string();
  }
  fail("NiiVue's bundle (niivue.umd.js, installed with repux) is not in {}; set REPUX_NIIVUE to its file", looked);
}

std::string copy_niivue_bundle(const std::string& folder) {
  const std::string source = niivue_bundle_path();
  const fs::path target = fs::path(folder) / "niivue.umd.js";
  std::error_code ec;
  if (!fs::exists(target, ec) || fs::file_size(target, ec) != fs::file_size(source)) write_file_atomically(target.string(), read_bytes(source));
  return target.filename().string();
}

void write_viewer_page(const ViewerInput& in, const std::string& html_path, const ViewerPageOptions& options) {
  if (!in.image) fail("{}: a viewer page needs an image", html_path);
  for (const Volume* labels : {in.prediction, in.truth}) {
    if (labels && labels->spatial_shape() != in.image->spatial_shape()) fail("{}: a label map's grid differs from the image's", html_path);
  }
  const std::string library = options.library_src.empty() ? "<script>" + read_bytes(niivue_bundle_path()) + "</script>"
                                                           : "<script src=\"" + html_escape(options.library_src) + "\"></script>";
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  // Nothing from the network: scripts inline or from the page's folder, data only from the page.
  page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' 'self' file:; "
          "style-src 'unsafe-inline'; img-src data: blob:; connect-src data: blob:; worker-src blob:; font-src data:\">\n";
  page += "<title>" + html_escape(in.title) + " - repux view</title>\n<style>" + kViewerStyle + "</style></head>\n<body>\n";
  page += "<div id=\"side\"><h1>" + html_escape(in.title) + "</h1>\n<h2>Window</h2><div id=\"windows\"></div>\n";
  page += "<h2>Layers</h2><div id=\"layers\"></div>\n<h2>Classes</h2><div id=\"legend\"></div>\n";
  page += "<div id=\"location\"></div><div id=\"status\">loading</div></div>\n";
  page += "<div id=\"view\"><canvas id=\"gl\"></canvas></div>\n";
  page += library + "\n<script>window.REPUX_VIEW = " + script_json(page_data(in, options)) + ";</script>\n";
  page += std::string("<script>") + kViewerScript + "</script>\n</body></html>\n";
  write_file_atomically(html_path, page);
}

}  // namespace repux
