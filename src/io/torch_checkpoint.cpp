#include "repux/io/torch_checkpoint.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "zip_directory.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <variant>

namespace repux {
namespace {

// ---- The values a torch.save pickle can hold ----------------------------------------------------
struct PyObject;
using PyRef = std::shared_ptr<PyObject>;

struct PyObject {
  // Object: an instance of a class this reader does not build (torch.device, a numpy dtype, a
  // set): kept as its class name (s) and constructor arguments (items), never called.
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Tensor, Storage, Mark, Object };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                             // String; Global as "module.name"
  std::vector<PyRef> items;                  // Tuple, List
  std::vector<std::pair<PyRef, PyRef>> dict;  // Dict (insertion order kept)
  torch::Tensor tensor;                      // Tensor, Storage (1-D, the whole storage)

  PyObject() = default;
  PyObject(const PyObject&) = delete;
  PyObject& operator=(const PyObject&) = delete;
  // Iterative: a pickle of 200,000 nested lists would otherwise overflow the stack in a chain of
  // destructors. Children held only here are emptied first, so each destructor below does no work.
  ~PyObject() {
    std::vector<PyRef> pending;
    auto release_children = [&pending](PyObject& o) {
      for (auto& item : o.items) pending.push_back(std::move(item));
      for (auto& [k, v] : o.dict) {
        pending.push_back(std::move(k));
        pending.push_back(std::move(v));
      }
      o.items.clear();
      o.dict.clear();
    };
    release_children(*this);
    while (!pending.empty()) {
      PyRef next = std::move(pending.back());
      pending.pop_back();
      if (next && next.use_count() == 1) release_children(*next);
    }
  }
};

PyRef make(PyObject::Kind kind) {
  auto o = std::make_shared<PyObject>();
  o->kind = kind;
  return o;
}

const char* kind_name(PyObject::Kind k) {
  static const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "global", "tensor", "storage", "mark", "object"};
  return names[static_cast<int>(k)];
}

torch::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat32},  {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},   {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},     {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},    {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},     {"torch.BoolStorage", torch::kBool},
  };
  auto it = types.find(global);
  if (it == types.end()) fail("unsupported storage type {}", global);
  return it->second;
}

// ---- The unpickler -------------------------------------------------------------------------------
class Unpickler {
 public:
  // `reader`: the archive holding the storages; null for a plain pickle, which may have none.
  Unpickler(const std::string& path, const std::string& bytes, caffe2::serialize::PyTorchStreamReader* reader)
      : path_(path), bytes_(bytes), reader_(reader) {}

  PyRef run() {
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                                  // PROTO
        case 0x95: read(8); break;                                 // FRAME
        case '.': return pop();                                    // STOP
        case '(': stack_.push_back(make(PyObject::Kind::Mark)); break;
        case 'N': stack_.push_back(make(PyObject::Kind::None)); break;
        case 0x88: case 0x89: {                                    // NEWTRUE / NEWFALSE
          auto o = make(PyObject::Kind::Bool);
          o->b = op == 0x88;
          stack_.push_back(o);
          break;
        }
        case 'J': push_int(static_cast<int32_t>(le(4))); break;    // BININT
        case 'K': push_int(le(1)); break;                          // BININT1
        case 'M': push_int(le(2)); break;                          // BININT2
        case 0x8a: {                                               // LONG1
          const size_t n = byte();
          if (n > 8) fail_here("integer of {} bytes is too large", n);
          uint64_t v = le(n);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'G': {                                                // BINFLOAT, big-endian
          uint64_t bits = 0;
          for (char c : read(8)) bits = (bits << 8) | static_cast<uint8_t>(c);
          auto o = make(PyObject::Kind::Float);
          std::memcpy(&o->f, &bits, 8);
          stack_.push_back(o);
          break;
        }
        case 'X': case 'T': case 'B': push_string(read(le(4))); break;     // BINUNICODE/BINSTRING/BINBYTES
        case 'U': case 'C': case 0x8c: push_string(read(byte())); break;   // SHORT_*
        case ']': stack_.push_back(make(PyObject::Kind::List)); break;
        case '}': stack_.push_back(make(PyObject::Kind::Dict)); break;
        case ')': stack_.push_back(make(PyObject::Kind::Tuple)); break;
        case 't': {
          auto t = make(PyObject::Kind::Tuple);
          t->items = pop_to_mark();
          stack_.push_back(t);
          break;
        }
        case 0x85: case 0x86: case 0x87: {                         // TUPLE1..3
          auto t = make(PyObject::Kind::Tuple);
          t->items.resize(op - 0x84);
          for (size_t i = t->items.size(); i-- > 0;) t->items[i] = pop();
          stack_.push_back(t);
          break;
        }
        case 'q': memo_[byte()] = top(); break;                    // BINPUT
        case 'r': memo_[le(4)] = top(); break;                     // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;             // MEMOIZE
        case 'h': push_memo(byte()); break;                        // BINGET
        case 'j': push_memo(le(4)); break;                         // LONG_BINGET
        case 'c': {                                                // GLOBAL
          auto g = make(PyObject::Kind::Global);
          const std::string module = line();
          g->s = module + "." + line();
          stack_.push_back(g);
          break;
        }
        case 0x93: {                                               // STACK_GLOBAL
          auto name = pop(), module = pop();
          auto g = make(PyObject::Kind::Global);
          g->s = module->s + "." + name->s;
          stack_.push_back(g);
          break;
        }
        case 'Q': stack_.push_back(persistent_load(pop())); break; // BINPERSID
        case 'R': {                                                // REDUCE
          auto args = pop();
          auto callable = pop();
          stack_.push_back(call(callable, args));
          break;
        }
        case 0x81: {                                               // NEWOBJ
          auto args = pop();
          auto cls = pop();
          stack_.push_back(call(cls, args));
          break;
        }
        case 'b': pop(); break;  // BUILD: only OrderedDict._metadata and parameter hooks reach here; ignored
        case 's': {                                                // SETITEM
          auto value = pop();
          auto key = pop();
          dict_top()->dict.emplace_back(key, value);
          break;
        }
        case 'u': {                                                // SETITEMS
          auto items = pop_to_mark();
          auto d = dict_top();
          for (size_t i = 0; i + 1 < items.size(); i += 2) d->dict.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'a': {                                                // APPEND
          auto v = pop();
          list_top()->items.push_back(v);
          break;
        }
        case 'e': {                                                // APPENDS
          auto items = pop_to_mark();
          auto l = list_top();
          l->items.insert(l->items.end(), items.begin(), items.end());
          break;
        }
        default: fail_here("unsupported pickle opcode 0x{:02x}", op);
      }
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail_here(fmt::format_string<Args...> format, Args&&... args) {
    fail("{}: not a torch.save state dict this reader understands: {} (at byte {} of data.pkl)", path_,
         fmt::format(format, std::forward<Args>(args)...), pos_);
  }

  uint8_t byte() {
    if (pos_ >= bytes_.size()) fail_here("unexpected end of data");
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  uint64_t le(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(byte()) << (8 * i);
    return v;
  }
  std::string read(size_t n) {
    if (pos_ + n > bytes_.size()) fail_here("unexpected end of data");
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string line() {
    const auto end = bytes_.find('\n', pos_);
    if (end == std::string::npos) fail_here("unterminated name");
    std::string s = bytes_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  void push_int(int64_t v) {
    auto o = make(PyObject::Kind::Int);
    o->i = v;
    stack_.push_back(o);
  }
  void push_string(std::string s) {
    auto o = make(PyObject::Kind::String);
    o->s = std::move(s);
    stack_.push_back(o);
  }
  void push_memo(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail_here("memo entry {} is missing", key);
    stack_.push_back(it->second);
  }
  PyRef top() {
    if (stack_.empty()) fail_here("stack underflow");
    return stack_.back();
  }
  PyRef pop() {
    auto v = top();
    stack_.pop_back();
    return v;
  }
  PyRef dict_top() {
    auto d = top();
    if (d->kind != PyObject::Kind::Dict) fail_here("SETITEM on a {}", kind_name(d->kind));
    return d;
  }
  PyRef list_top() {
    auto l = top();
    if (l->kind != PyObject::Kind::List) fail_here("APPEND on a {}", kind_name(l->kind));
    return l;
  }
  std::vector<PyRef> pop_to_mark() {
    std::vector<PyRef> items;
    while (true) {
      auto v = pop();
      if (v->kind == PyObject::Kind::Mark) break;
      items.push_back(v);
    }
    return {items.rbegin(), items.rend()};
  }

  // ('storage', storage_type, key, location, numel): the bytes live in the zip record data/<key>.
  PyRef persistent_load(const PyRef& pid) {
    if (pid->kind != PyObject::Kind::Tuple || pid->items.size() < 5 || pid->items[0]->s != "storage") {
      fail_here("unsupported persistent id");
    }
    const std::string key = pid->items[2]->s;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    const torch::ScalarType dtype = storage_dtype(pid->items[1]->s);
    const int64_t numel = pid->items[4]->i;
    if (numel < 0) fail_here("storage {} has a negative size", key);
    if (!reader_) fail_here("a tensor storage in a plain pickle (not a torch.save archive)");
    if (!reader_->hasRecord("data/" + key)) fail_here("storage record data/{} is missing", key);
    auto [data, size] = reader_->getRecord("data/" + key);
    const size_t expected = static_cast<size_t>(numel) * c10::elementSize(dtype);
    if (size != expected) fail_here("storage {} holds {} bytes, expected {}", key, size, expected);
    auto storage = make(PyObject::Kind::Storage);
    storage->tensor = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (size > 0) std::memcpy(storage->tensor.data_ptr(), data.get(), size);
    storages_[key] = storage;
    return storage;
  }

  // A tensor record's view of its storage must lie inside it: as many strides as sizes, nothing
  // negative, and the last element (computed without overflow) before the storage's end.
  void check_view(const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides, int64_t offset, int64_t storage) {
    if (sizes.size() != strides.size() || sizes.size() > 16) {
      fail_here("malformed tensor record: {} sizes and {} strides", sizes.size(), strides.size());
    }
    if (offset < 0) fail_here("malformed tensor record: storage offset {}", offset);
    int64_t last = offset;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] < 0 || strides[d] < 0) fail_here("malformed tensor record: size {} or stride {} is negative", sizes[d], strides[d]);
      if (sizes[d] == 0) return;  // no elements: nothing to read
      int64_t reach = 0;
      if (__builtin_mul_overflow(sizes[d] - 1, strides[d], &reach) || __builtin_add_overflow(last, reach, &last)) {
        fail_here("malformed tensor record: its extent overflows");
      }
    }
    if (last >= storage) fail_here("tensor exceeds its storage ({} elements)", storage);
  }

  static std::vector<int64_t> ints(const PyRef& tuple) {
    std::vector<int64_t> v;
    for (const auto& item : tuple->items) v.push_back(item->i);
    return v;
  }

  PyRef call(const PyRef& callable, const PyRef& args) {
    if (callable->kind != PyObject::Kind::Global) fail_here("call of a {}", kind_name(callable->kind));
    const std::string& name = callable->s;
    if (name == "collections.OrderedDict" || name == "builtins.dict") return make(PyObject::Kind::Dict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      const auto& a = args->items;
      if (a.size() < 4 || a[0]->kind != PyObject::Kind::Storage) fail_here("malformed tensor record");
      auto t = make(PyObject::Kind::Tensor);
      const int64_t offset = a[1]->i;
      const auto sizes = ints(a[2]), strides = ints(a[3]);
      check_view(sizes, strides, offset, a[0]->tensor.numel());
      t->tensor = a[0]->tensor.as_strided(sizes, strides, offset);
      return t;
    }
    if (name == "torch._utils._rebuild_parameter") {
      if (args->items.empty()) fail_here("malformed parameter record");
      return args->items[0];
    }
    if (name == "_codecs.encode") return latin1_bytes(args);
    if (name == "numpy.core.multiarray.scalar" || name == "numpy._core.multiarray.scalar") return numpy_scalar(args);
    auto object = make(PyObject::Kind::Object);
    object->s = name;
    object->items = args->items;
    return object;
  }

  // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1'): each code point of the UTF-8 text
  // is one byte.
  PyRef latin1_bytes(const PyRef& args) {
    if (args->items.size() != 2 || args->items[0]->kind != PyObject::Kind::String) fail_here("malformed bytes record");
    const std::string& text = args->items[0]->s;
    std::string bytes;
    for (size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<uint8_t>(text[i]);
      if (c < 0x80) {
        bytes.push_back(static_cast<char>(c));
      } else if ((c & 0xFE) == 0xC2 && i + 1 < text.size()) {
        bytes.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<uint8_t>(text[++i]) & 0x3F)));
      } else {
        fail_here("bytes record is not latin-1");
      }
    }
    auto o = make(PyObject::Kind::String);
    o->s = std::move(bytes);
    return o;
  }

  // A numpy scalar: numpy.dtype(code, ...) and its bytes (little-endian, as on every machine
  // nnU-Net runs on). Floats and integers become numbers; any other type stays an Object.
  PyRef numpy_scalar(const PyRef& args) {
    auto object = make(PyObject::Kind::Object);
    object->s = "numpy.scalar";
    object->items = args->items;
    if (args->items.size() != 2 || args->items[0]->kind != PyObject::Kind::Object || args->items[0]->items.empty()) return object;
    const std::string code = args->items[0]->items[0]->s;
    const std::string& raw = args->items[1]->s;
    auto number = [&](auto value, PyObject::Kind kind) {
      if (raw.size() != sizeof(value)) fail_here("numpy {} scalar of {} bytes", code, raw.size());
      std::memcpy(&value, raw.data(), sizeof(value));
      auto o = make(kind);
      if (kind == PyObject::Kind::Float) o->f = static_cast<double>(value);
      else o->i = static_cast<int64_t>(value);
      return o;
    };
    if (code == "f8") return number(double{}, PyObject::Kind::Float);
    if (code == "f4") return number(float{}, PyObject::Kind::Float);
    if (code == "i8") return number(int64_t{}, PyObject::Kind::Int);
    if (code == "i4") return number(int32_t{}, PyObject::Kind::Int);
    return object;
  }

  std::string path_;
  const std::string& bytes_;
  caffe2::serialize::PyTorchStreamReader* reader_;
  size_t pos_ = 0;
  std::vector<PyRef> stack_;
  std::map<uint64_t, PyRef> memo_;
  std::map<std::string, PyRef> storages_;
};

const PyRef* find_key(const PyRef& dict, const std::string& key) {
  for (const auto& [k, v] : dict->dict) {
    if (k->kind == PyObject::Kind::String && k->s == key) return &v;
  }
  return nullptr;
}

// ---- The pickler (a plain dict of tensors) ------------------------------------------------------
class Pickler {
 public:
  std::string bytes;
  void op(uint8_t c) { bytes.push_back(static_cast<char>(c)); }
  void global(const std::string& module, const std::string& name) {
    op('c');
    bytes += module + "\n" + name + "\n";
  }
  void string(const std::string& s) {
    op('X');
    put_le(s.size(), 4);
    bytes += s;
  }
  void integer(int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      put_le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {
      op(0x8a);
      op(8);
      put_le(static_cast<uint64_t>(v), 8);
    }
  }
  void int_tuple(torch::IntArrayRef values) {
    op('(');
    for (auto v : values) integer(v);
    op('t');
  }
  void put_le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) op(static_cast<uint8_t>(v >> (8 * i)));
  }
};

std::string storage_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "FloatStorage";
    case torch::kFloat64: return "DoubleStorage";
    case torch::kFloat16: return "HalfStorage";
    case torch::kBFloat16: return "BFloat16Storage";
    case torch::kInt64: return "LongStorage";
    case torch::kInt32: return "IntStorage";
    case torch::kInt16: return "ShortStorage";
    case torch::kInt8: return "CharStorage";
    case torch::kUInt8: return "ByteStorage";
    case torch::kBool: return "BoolStorage";
    default: fail("cannot store tensors of type {} in a .pth file", c10::toString(t));
  }
}


// The root object of a torch.save archive.
PyRef read_pickle_root(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: file not found or not readable", path);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (static_cast<uint8_t>(magic[0]) == 0x80 && static_cast<uint8_t>(magic[1]) == 0x02) {
    fail("{}: a legacy (pre-1.6, non-zip) torch.save file; convert it once with Python: "
         "torch.save(torch.load('{}', map_location='cpu'), 'converted.pth')", path, path);
  }
  if (std::memcmp(magic, "PK\x03\x04", 4) != 0) fail("{}: not a PyTorch checkpoint (expected a torch.save zip archive)", path);

  zip::checked_entries(path);  // before miniz reserves what a record claims
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  std::string pickle;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    auto [data, size] = reader->getRecord("data.pkl");
    pickle.assign(static_cast<const char*>(data.get()), size);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    fail("{}: corrupt or truncated torch.save archive ({})", path, what.substr(0, what.find('\n')));
  }
  try {
    return Unpickler(path, pickle, reader.get()).run();
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    fail("{}: corrupt or truncated torch.save archive ({})", path, what.substr(0, what.find('\n')));
  }
}

// A dict whose every value is a tensor (and that has one); nullopt for anything else.
std::optional<NamedTensors> tensors_of(const PyRef& dict) {
  if (dict->kind != PyObject::Kind::Dict || dict->dict.empty()) return std::nullopt;
  NamedTensors tensors;
  for (const auto& [k, v] : dict->dict) {
    if (k->kind != PyObject::Kind::String || v->kind != PyObject::Kind::Tensor) return std::nullopt;
    tensors.emplace_back(k->s, v->tensor);
  }
  return tensors;
}

std::string json_key(const PyRef& key) {
  switch (key->kind) {
    case PyObject::Kind::String: return key->s;
    case PyObject::Kind::Int: return std::to_string(key->i);
    default: return fmt::format("<{}>", kind_name(key->kind));
  }
}

// A pickled value as JSON (see TorchCheckpoint::values). Iterative over an explicit stack, as the
// destructor is, so that deep nesting cannot overflow the call stack.
nlohmann::json to_json_value(const PyRef& root) {
  nlohmann::json result;
  std::vector<std::pair<const PyObject*, nlohmann::json*>> pending{{root.get(), &result}};
  while (!pending.empty()) {
    auto [o, out] = pending.back();
    pending.pop_back();
    switch (o->kind) {
      case PyObject::Kind::None: *out = nullptr; break;
      case PyObject::Kind::Bool: *out = o->b; break;
      case PyObject::Kind::Int: *out = o->i; break;
      case PyObject::Kind::Float: *out = o->f; break;
      case PyObject::Kind::String: *out = o->s; break;
      case PyObject::Kind::Tensor: *out = {{"__tensor__", c10::str(o->tensor.sizes())}}; break;
      case PyObject::Kind::Global: *out = {{"__global__", o->s}}; break;
      case PyObject::Kind::Tuple:
      case PyObject::Kind::List: {
        *out = nlohmann::json::array();
        for (size_t i = 0; i < o->items.size(); ++i) out->push_back(nullptr);
        for (size_t i = 0; i < o->items.size(); ++i) pending.emplace_back(o->items[i].get(), &(*out)[i]);
        break;
      }
      case PyObject::Kind::Dict: {
        *out = nlohmann::json::object();
        for (const auto& [k, v] : o->dict) pending.emplace_back(v.get(), &(*out)[json_key(k)]);
        break;
      }
      case PyObject::Kind::Object: {
        *out = {{"__class__", o->s}, {"args", nlohmann::json::array()}};
        auto& args = (*out)["args"];
        for (size_t i = 0; i < o->items.size(); ++i) args.push_back(nullptr);
        for (size_t i = 0; i < o->items.size(); ++i) pending.emplace_back(o->items[i].get(), &args[i]);
        break;
      }
      default: *out = fmt::format("<{}>", kind_name(o->kind));
    }
  }
  return result;
}

}  // namespace

nlohmann::json read_pickle_file(const std::string& path) {
  constexpr std::uintmax_t kLimit = 64 << 20;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail("{}: file not found or not readable", path);
  if (size > kLimit) fail("{}: {} bytes, more than the {} MiB a pickle of settings may have", path, size, kLimit >> 20);
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) fail("{}: could not be read", path);
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != 0x80) fail("{}: not a pickle file (no protocol header)", path);
  return to_json_value(Unpickler(path, bytes, nullptr).run());
}

NamedTensors read_torch_state_dict(const std::string& path) {
  PyRef root = read_pickle_root(path);
  if (root->kind != PyObject::Kind::Dict) fail("{}: holds a {}, expected a state dict", path, kind_name(root->kind));
  for (const char* wrapper : {"state_dict", "model"}) {
    if (const PyRef* inner = find_key(root, wrapper); inner && (*inner)->kind == PyObject::Kind::Dict) {
      root = *inner;
      break;
    }
  }
  NamedTensors tensors;
  for (const auto& [k, v] : root->dict) {
    if (k->kind != PyObject::Kind::String) fail("{}: state dict key is a {}, expected a string", path, kind_name(k->kind));
    if (v->kind != PyObject::Kind::Tensor) fail("{}: entry '{}' is a {}, expected a tensor", path, k->s, kind_name(v->kind));
    tensors.emplace_back(k->s, v->tensor);
  }
  if (tensors.empty()) fail("{}: the state dict is empty", path);
  return tensors;
}

TorchCheckpoint read_torch_checkpoint(const std::string& path) {
  const PyRef root = read_pickle_root(path);
  if (root->kind != PyObject::Kind::Dict) fail("{}: holds a {}, expected a dict", path, kind_name(root->kind));
  TorchCheckpoint checkpoint;
  checkpoint.values = nlohmann::json::object();
  for (const auto& [k, v] : root->dict) {
    if (k->kind != PyObject::Kind::String) fail("{}: top-level key is a {}, expected a string", path, kind_name(k->kind));
    if (auto tensors = tensors_of(v)) {
      checkpoint.state_dicts[k->s] = std::move(*tensors);
    } else {
      checkpoint.values[k->s] = to_json_value(v);
    }
  }
  return checkpoint;
}

void write_torch_state_dict(const NamedTensors& tensors, const std::string& path) {
  Pickler p;
  p.op(0x80);
  p.op(2);
  p.op('}');
  p.op('(');
  std::vector<torch::Tensor> storages;
  for (const auto& [name, t] : tensors) {
    auto cpu = t.detach().to(torch::kCPU).contiguous();
    const std::string key = std::to_string(storages.size());
    storages.push_back(cpu);
    p.string(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');
    p.string("storage");
    p.global("torch", storage_name(cpu.scalar_type()));
    p.string(key);
    p.string("cpu");
    p.integer(cpu.numel());
    p.op('t');
    p.op('Q');
    p.integer(0);
    p.int_tuple(cpu.sizes());
    p.int_tuple(cpu.strides());
    p.op(0x89);
    p.global("collections", "OrderedDict");
    p.op(')');
    p.op('R');
    p.op('t');
    p.op('R');
  }
  p.op('u');
  p.op('.');

  // The archive is built in memory (the writer cannot fail there) and written with checked writes:
  // a writer whose file write fails throws again from its destructor, which would abort the program.
  std::string archive;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&archive](const void* data, size_t size) -> size_t {
      archive.append(static_cast<const char*>(data), size);
      return size;
    });
    writer.writeRecord("data.pkl", p.bytes.data(), p.bytes.size());
    for (size_t i = 0; i < storages.size(); ++i) {
      writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
    }
    writer.writeEndOfFile();
  }
  write_file_atomically(path, archive);
}

}  // namespace repux
