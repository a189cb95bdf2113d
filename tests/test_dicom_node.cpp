// The DICOM node's parts, each against DCMTK's own command-line tools as the other side: the Storage SCP
// receives from storescu and refuses echoscu under an unknown AE title; store_files sends to storescp.
// The spool's recovery and bookkeeping are checked on folders laid out by hand. (The whole node against
// a real PACS is tests/pacs/test_pacs.sh, with Orthanc.)
#include "repux/dist/communicator.h"
#include "repux/io/dicom_series.h"
#include "repux/io/nifti.h"
#include "repux/io/volume_file.h"
#include "repux/net/dicom_peer.h"
#include "repux/net/spool.h"
#include "repux/net/storage_scp.h"
#include "dicom_tools.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

using namespace repux;
using repux::test::arg;
using repux::test::shell;
using repux::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A small CT series written by plastimatch.
std::string ct_series(const TempDir& dir, const std::string& name, int64_t slices) {
  Volume v;
  v.data = torch::randint(-1000, 1000, {8, 8, slices}, torch::kFloat32);
  v.affine = torch::diag(torch::tensor({1.0, 1.0, 2.0, 1.0}, torch::kFloat64));
  v.sample_type = SampleType::Int16;
  write_nifti(v, dir.file(name + ".nii.gz"));
  shell("plastimatch convert --input " + arg(dir.file(name + ".nii.gz")) + " --output-dicom " + arg(dir.file(name)));
  return dir.file(name);
}

std::vector<std::string> files_in(const fs::path& folder) {
  std::vector<std::string> files;
  if (fs::is_directory(folder)) {
    for (const auto& e : fs::directory_iterator(folder)) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void touch(const fs::path& file) { std::ofstream(file) << "x"; }

// Makes a folder and everything in it look `age` old.
void age_by(const fs::path& folder, std::chrono::seconds age) {
  const auto then = fs::file_time_type::clock::now() - age;
  for (const auto& e : fs::directory_iterator(folder)) fs::last_write_time(e.path(), then);
  fs::last_write_time(folder, then);
}

}  // namespace

TEST(DicomPeer, ParsesAetHostPortAndRefusesAnythingElse) {
  const DicomPeer p = parse_dicom_peer("ORTHANC@127.0.0.1:4242");
  EXPECT_EQ(p.ae_title, "ORTHANC");
  EXPECT_EQ(p.host, "127.0.0.1");
  EXPECT_EQ(p.port, 4242);
  EXPECT_EQ(parse_dicom_peer("A@pacs.example.org:1").host, "pacs.example.org");
  for (const char* bad : {"ORTHANC", "ORTHANC@127.0.0.1", "@127.0.0.1:4242", "A@:4242", "A@h:0", "A@h:65536", "A@h:42x",
                          "A@h:", "SEVENTEEN_CHARS_X@h:4242"}) {
    const std::string error = test::error_of([&] { parse_dicom_peer(bad); });
    EXPECT_NE(error.find(std::string("'") + bad + "'"), std::string::npos) << error;
    EXPECT_NE(error.find("AET@host:port"), std::string::npos) << error;
  }
}

TEST(DicomSpool, RecoversWhatAKilledNodeLeft) {
  TempDir dir;
  const fs::path root = dir.path() / "spool";
  for (const char* sub : {"incoming", "series/1.2.4", "series/1.2.5", "work/1.2.3", "work/1.2.5"}) fs::create_directories(root / sub);
  touch(root / "incoming/half-received.dcm");  // never acknowledged to the sender: dropped
  touch(root / "work/1.2.3/a.dcm");            // being segmented when killed: back to series/
  touch(root / "series/1.2.4/b.dcm");          // waiting: stays
  touch(root / "series/1.2.5/c.dcm");          // more of a series arrived while it was being segmented: merged
  touch(root / "work/1.2.5/d.dcm");
  Spool spool(root.string(), 0);
  EXPECT_TRUE(files_in(root / "incoming").empty());
  EXPECT_TRUE(files_in(root / "work").empty());
  EXPECT_EQ(files_in(root / "series/1.2.3"), std::vector<std::string>{(root / "series/1.2.3/a.dcm").string()});
  EXPECT_EQ(files_in(root / "series/1.2.4").size(), 1u);
  EXPECT_EQ(files_in(root / "series/1.2.5"),
            (std::vector<std::string>{(root / "series/1.2.5/c.dcm").string(), (root / "series/1.2.5/d.dcm").string()}));
}

TEST(DicomSpool, SortsInstancesBySeriesWaitsForQuietAndKeepsItsBound) {
  TempDir dir;
  const std::string first = ct_series(dir, "first", 3), second = ct_series(dir, "second", 4);
  Spool spool(dir.file("spool"), 1ull << 30);
  int received = 0;
  for (const auto& series : {first, second}) {
    for (const auto& f : files_in(series)) {
      const std::string incoming = spool.incoming_file("1.2.826.0.1." + std::to_string(++received));
      fs::copy_file(f, incoming);
      spool.add_received(incoming);
    }
  }
  const fs::path folder1 = fs::path(dir.file("spool")) / "series" / dicom_series_uid(files_in(first)[0]);
  const fs::path folder2 = fs::path(dir.file("spool")) / "series" / dicom_series_uid(files_in(second)[0]);
  EXPECT_EQ(files_in(folder1).size(), 3u);
  EXPECT_EQ(files_in(folder2).size(), 4u);

  EXPECT_TRUE(spool.take_quiet_series(std::chrono::seconds(60)).empty()) << "both series just arrived";
  age_by(folder1, std::chrono::seconds(120));
  const auto taken = spool.take_quiet_series(std::chrono::seconds(60));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(fs::path(taken[0]).filename(), folder1.filename());
  EXPECT_EQ(files_in(taken[0]).size(), 3u);
  spool.set_aside(taken[0]);
  EXPECT_EQ(files_in(fs::path(dir.file("spool")) / "failed" / folder1.filename()).size(), 3u);

  EXPECT_FALSE(spool.over_limit());
  EXPECT_TRUE(Spool(dir.file("spool"), 100).over_limit()) << "7 slices are more than 100 bytes";

  // Names from the network never leave the spool; a file that is not DICOM is dropped with its name.
  EXPECT_NE(test::error_of([&] { spool.incoming_file("../../etc/passwd"); }).find("not a UID"), std::string::npos);
  const std::string junk = spool.incoming_file("1.2.3.4");
  touch(junk);
  EXPECT_NE(test::error_of([&] { spool.add_received(junk); }).find(junk), std::string::npos);
  EXPECT_FALSE(fs::exists(junk));
}

// Whether something accepts TCP connections on 127.0.0.1:port, tried for up to 120 s (a bound for a
// loaded machine: the wait ends as soon as the server listens).
bool listening(uint16_t port) {
  return test::wait_until(
      [port] {
        const int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        const bool connected = ::connect(s, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
        ::close(s);
        return connected;
      },
      120);
}

// Runs the SCP in this process on a free port while `callers` runs (it gets the port), then stops it.
void with_node(Spool& spool, const std::vector<std::string>& allowed, const std::function<void(uint16_t)>& callers) {
  StorageScpOptions options;
  options.ae_title = "NODE";
  options.port = static_cast<uint16_t>(free_tcp_port());
  options.allowed_peers = allowed;
  std::atomic<bool> stop{false};
  std::thread node([&] { run_storage_scp(options, spool, [&] { return stop.load(); }); });
  const bool up = listening(options.port);
  EXPECT_TRUE(up) << "the node did not listen on port " << options.port;
  if (up) callers(options.port);
  stop = true;
  node.join();
}

std::string to_node(uint16_t port) { return " -aec NODE 127.0.0.1 " + std::to_string(port); }

// The SCP in this process, storescu and echoscu (DCMTK's programs) as the callers.
TEST(DicomStorageScp, ReceivesFromStorescuAndRefusesUnknownCallersAndAFullSpool) {
  TempDir dir;
  const std::string series = ct_series(dir, "ct", 5);
  Spool spool(dir.file("spool"), 1ull << 30);
  test::CommandResult echo{-2, ""}, stored{-2, ""}, stranger{-2, ""}, stranger_store{-2, ""};
  with_node(spool, {"SENDER@127.0.0.1", "OTHER"}, [&](uint16_t port) {
    echo = test::run_command("echoscu -aet SENDER" + to_node(port) + " 2>&1");
    stored = test::run_command("storescu -aet SENDER" + to_node(port) + " " + arg(series) + "/* 2>&1");
    stranger = test::run_command("echoscu -aet STRANGER" + to_node(port) + " 2>&1");
    stranger_store = test::run_command("storescu -aet STRANGER" + to_node(port) + " " + arg(series) + "/* 2>&1");
  });
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  EXPECT_EQ(stored.exit_code, 0) << stored.output;
  EXPECT_NE(stranger.exit_code, 0) << "an unknown AE title was accepted";
  EXPECT_NE(stranger.output.find("Association Rejected"), std::string::npos) << stranger.output;
  EXPECT_NE(stranger_store.exit_code, 0);
  const fs::path received = fs::path(dir.file("spool")) / "series" / dicom_series_uid(files_in(series)[0]);
  ASSERT_EQ(files_in(received).size(), 5u);
  EXPECT_TRUE(files_in(fs::path(dir.file("spool")) / "incoming").empty());
  // What was received is the series: read from the spool, it equals the series read from its folder.
  const Volume sent = read_volume(series), got = read_volume(received.string());
  EXPECT_TRUE(torch::equal(sent.data, got.data));
  EXPECT_TRUE(torch::allclose(sent.affine, got.affine));

  // A spool over its bound refuses even a known caller, at association time; nothing is written.
  Spool full(dir.file("spool"), 100);
  test::CommandResult refused{-2, ""};
  with_node(full, {"SENDER"}, [&](uint16_t port) {
    refused = test::run_command("storescu -aet SENDER" + to_node(port) + " " + arg(series) + "/* 2>&1");
  });
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("Association Rejected"), std::string::npos) << refused.output;
  EXPECT_EQ(files_in(received).size(), 5u);
}

// store_files against storescp (DCMTK's Storage SCP program), and against a port where nobody listens.
TEST(DicomPeer, StoreFilesReachesStorescpAndNamesAPeerThatIsNotThere) {
  TempDir dir;
  const std::string series = ct_series(dir, "ct", 3);
  const uint16_t port = static_cast<uint16_t>(free_tcp_port());
  const std::string received = dir.file("received");
  fs::create_directories(received);
  const std::string pid = shell("timeout 600 storescp --aetitle STORESCP --output-directory " + arg(received) + " " +
                                std::to_string(port) + " >/dev/null 2>&1 & echo $!");
  const std::string stop_storescp = "kill " + pid.substr(0, pid.find('\n'));
  const DicomPeer peer = parse_dicom_peer("STORESCP@127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(listening(port)) << "storescp did not listen";
  const std::string error = test::error_of([&] { store_files(peer, "REPUX", files_in(series)); });
  test::run_command(stop_storescp);
  EXPECT_EQ(error, "(no error)");
  ASSERT_EQ(files_in(received).size(), 3u);
  EXPECT_TRUE(torch::equal(read_volume(series).data, read_volume(received).data));

  const uint16_t nobody = static_cast<uint16_t>(free_tcp_port());
  const auto t0 = std::chrono::steady_clock::now();
  const std::string refused = test::error_of([&] { store_files(parse_dicom_peer("PACS@127.0.0.1:" + std::to_string(nobody)), "REPUX", files_in(series)); });
  EXPECT_NE(refused.find("PACS@127.0.0.1:" + std::to_string(nobody)), std::string::npos) << refused;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
}
