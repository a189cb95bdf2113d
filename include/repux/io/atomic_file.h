#pragma once
// Outputs are written under a temporary name next to the destination and renamed into place, so a
// failed or interrupted write never leaves a half-written file where a good one is expected.
#include <string>

namespace repux {

// Throws repux::Error unless `destination` could be written: its directory exists and is writable,
// and it is not itself a directory. Lets callers fail before doing expensive work.
void ensure_writable(const std::string& destination);

class AtomicFile {
 public:
  // Checks that the destination's directory exists and is writable; throws repux::Error otherwise.
  explicit AtomicFile(std::string destination);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Where to write: same directory and same extension (".nii.gz" is kept whole) as the destination.
  const std::string& temporary_path() const { return temporary_; }
  const std::string& destination() const { return destination_; }
  // Renames the temporary file onto the destination.
  void commit();

 private:
  std::string destination_;
  std::string temporary_;
  bool committed_ = false;
};

}  // namespace repux
