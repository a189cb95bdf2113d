#pragma once
// Outputs are written under a temporary name next to the destination and renamed into place, so a
// failed or interrupted write never leaves a half-written file where a good one is expected.
#include <cstdio>
#include <string>
#include <vector>

namespace repux {

// Throws repux::Error unless `destination` could be written: its directory exists and is writable,
// and it is not itself a directory. Lets callers fail before doing expensive work.
void ensure_writable(const std::string& destination);

// `bytes` to `destination` through an AtomicFile: the whole file or nothing.
void write_file_atomically(const std::string& destination, const std::string& bytes);

// Closes a stdio stream that wrote `destination`'s temporary file and throws repux::Error if any
// write or the close failed (a full disk shows up as late as fclose).
void close_checked(FILE* file, const std::string& destination);

// Removes the temporary files that AtomicFiles of a killed process left in `directory` (their names
// carry that process's id; files of a process still running are kept). With `destinations`, only the
// temporaries of those file names (e.g. "case_1_image.npy"): what other writers sharing the folder,
// on other machines, have under way is left alone.
void remove_abandoned_temporaries(const std::string& directory, const std::vector<std::string>& destinations = {});

// fsync of a file, or of a folder (its entries: a file renamed into it), so that what is there
// survives a power cut; an error naming the path otherwise. What a peer is told is "stored" is
// made durable first.
void make_durable(const std::string& path);

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
  // Writes all of `bytes` to the temporary file (replacing it). A short write (full disk, file-size
  // limit) throws repux::Error naming the destination; the destructor then removes the temporary.
  void write(const std::string& bytes);
  // Renames the temporary file onto the destination.
  void commit();

 private:
  std::string destination_;
  std::string temporary_;
  bool committed_ = false;
};

}  // namespace repux
