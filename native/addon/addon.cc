// distminer_proofs.node: the Filecoin proofs (filcrypto.h C ABI) as Promise-returning
// JavaScript functions.
//
// Proof calls take from milliseconds to minutes, so none may run on the JS thread, and none
// may run on libuv's 4-thread pool either (Napi::AsyncWorker uses it): four long proofs
// would block every fs and dns call of the process. Each call is queued on this addon's own
// thread pool instead, and its result is handed back to the calling JS thread (main thread
// or worker_thread) through a thread-safe function. The pool is process-wide: several
// worker_threads loading the addon share it.
//
// Arguments are validated and copied on the JS thread, so a proof never touches JS memory;
// a filcrypto error or a Rust panic (caught by the native crate) rejects the Promise.

#include <napi.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <csignal>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "filcrypto.h"

namespace {

// ------------------------------------------------------------------ thread pool

class Pool {
 public:
  explicit Pool(size_t n) {
    for (size_t i = 0; i < n; i++) threads_.emplace_back([this] { Run(); });
  }
  void Submit(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      q_.push_back(std::move(f));
      queued_++;
    }
    cv_.notify_one();
  }
  size_t size() const { return threads_.size(); }
  int running() const { return running_.load(); }
  int queued() const { return queued_.load(); }

 private:
  void Run() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return !q_.empty(); });
        f = std::move(q_.front());
        q_.pop_front();
        queued_--;
      }
      running_++;
      f();
      running_--;
    }
  }
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> q_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> running_{0};
  std::atomic<int> queued_{0};
};

std::mutex g_config_mu;
Pool* g_pool = nullptr;          // created on first use; threads live as long as the process
size_t g_pool_threads = 0;       // 0: not chosen yet
std::atomic<bool> g_proof_started{false};

Pool& pool() {
  std::lock_guard<std::mutex> lk(g_config_mu);
  if (!g_pool) {
    size_t n = g_pool_threads;
    if (n == 0) {
      // Enough threads that the mailbox's lanes (a few long proofs) never block short
      // calls such as verifications; the proofs themselves parallelise with rayon.
      n = std::max<size_t>(8, std::thread::hardware_concurrency() * 2);
    }
    g_pool_threads = n;
    g_pool = new Pool(n);  // intentionally leaked: pool threads outlive any one JS env
  }
  g_proof_started = true;
  return *g_pool;
}

// ------------------------------------------------------------------ results

struct Outcome {
  int status = 0;  // filcrypto status code; 0 = ok
  std::string error;
  std::vector<uint64_t> faulty;
  std::function<Napi::Value(Napi::Env)> make;  // builds the JS value on the JS thread
};

struct Job {
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  std::function<Outcome()> work;
  Outcome out;
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

void Finish(Napi::Env env, Napi::Function, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr) return;  // the env is going away (worker terminated)
  Napi::HandleScope scope(env);
  if (job->out.status == 0) {
    job->deferred.Resolve(job->out.make ? job->out.make(env) : env.Undefined());
    return;
  }
  Napi::Error err = Napi::Error::New(env, job->out.error.empty() ? "proofs call failed" : job->out.error);
  err.Value().Set("statusCode", Napi::Number::New(env, job->out.status));
  if (!job->out.faulty.empty()) {
    Napi::Array a = Napi::Array::New(env, job->out.faulty.size());
    for (size_t i = 0; i < job->out.faulty.size(); i++) a.Set(i, Napi::Number::New(env, static_cast<double>(job->out.faulty[i])));
    err.Value().Set("faultySectors", a);
  }
  job->deferred.Reject(err.Value());
}

Napi::Value Submit(Napi::Env env, const char* name, std::function<Outcome()> work) {
  Job* job = new Job(env);
  Napi::Promise promise = job->deferred.Promise();
  job->work = std::move(work);
  Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  job->tsfn = Napi::ThreadSafeFunction::New(env, noop, name, 0, 1);
  pool().Submit([job] {
    try {
      job->out = job->work();
    } catch (const std::exception& e) {
      job->out = Outcome{};
      job->out.status = F_C_P_RESPONSE_STATUS_RECEIVER_ERROR;
      job->out.error = std::string("native addon: ") + e.what();
    }
    Napi::ThreadSafeFunction tsfn = job->tsfn;
    napi_status st = tsfn.BlockingCall(job, Finish);
    if (st != napi_ok) delete job;  // env closing: nobody left to resolve
    tsfn.Release();
  });
  return promise;
}

template <typename R>
bool Failed(R* r, Outcome& out) {
  if (r->status_code == F_C_P_RESPONSE_STATUS_NO_ERROR) return false;
  out.status = r->status_code;
  out.error.assign(reinterpret_cast<const char*>(r->error_msg.ptr), r->error_msg.len);
  return true;
}

Outcome CallerError(const std::string& msg) {
  Outcome o;
  o.status = F_C_P_RESPONSE_STATUS_CALLER_ERROR;
  o.error = msg;
  return o;
}

// ------------------------------------------------------------------ argument parsing

using Bytes32 = std::array<uint8_t, 32>;

class ArgError : public std::exception {
 public:
  explicit ArgError(std::string m) : msg_(std::move(m)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

Bytes32 Buf32(const Napi::Value& v, const char* what) {
  if (!v.IsBuffer()) throw ArgError(std::string(what) + " must be a Buffer of 32 bytes");
  auto b = v.As<Napi::Buffer<uint8_t>>();
  if (b.Length() != 32) throw ArgError(std::string(what) + " must be 32 bytes, got " + std::to_string(b.Length()));
  Bytes32 out;
  std::memcpy(out.data(), b.Data(), 32);
  return out;
}

std::vector<uint8_t> Bytes(const Napi::Value& v, const char* what) {
  if (!v.IsBuffer()) throw ArgError(std::string(what) + " must be a Buffer");
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

std::string Str(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw ArgError(std::string(what) + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty()) throw ArgError(std::string(what) + " must not be empty");
  if (s.find('\0') != std::string::npos) throw ArgError(std::string(what) + " contains a NUL byte");
  return s;
}

uint64_t U64(const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw ArgError(std::string(what) + " does not fit in 64 bits");
    return x;
  }
  if (!v.IsNumber()) throw ArgError(std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw ArgError(std::string(what) + " must be a non-negative safe integer");
  }
  return static_cast<uint64_t>(d);
}

int32_t I32(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw ArgError(std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int32_t>(d))) throw ArgError(std::string(what) + " must be an integer");
  return static_cast<int32_t>(d);
}

Napi::Array Arr(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw ArgError(std::string(what) + " must be an array");
  return v.As<Napi::Array>();
}

Napi::Object Obj(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throw ArgError(std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

std::vector<PublicPieceInfo_t> Pieces(const Napi::Value& v) {
  Napi::Array a = Arr(v, "pieces");
  std::vector<PublicPieceInfo_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object o = Obj(a.Get(i), "pieces[i]");
    out[i].num_bytes = U64(o.Get("numBytes"), "pieces[i].numBytes");
    Bytes32 c = Buf32(o.Get("commP"), "pieces[i].commP");
    std::memcpy(out[i].comm_p, c.data(), 32);
  }
  return out;
}

std::vector<uint64_t> U64s(const Napi::Value& v, const char* what) {
  Napi::Array a = Arr(v, what);
  std::vector<uint64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = U64(a.Get(i), what);
  return out;
}

// Replicas own their path strings; the C structs point into them.
struct PrivateReplicas {
  std::vector<std::string> cache, sealed;
  std::vector<PrivateReplicaInfo_t> infos;
};

std::shared_ptr<PrivateReplicas> PrivReplicas(const Napi::Value& v) {
  Napi::Array a = Arr(v, "replicas");
  auto r = std::make_shared<PrivateReplicas>();
  r->cache.reserve(a.Length());
  r->sealed.reserve(a.Length());
  r->infos.resize(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object o = Obj(a.Get(i), "replicas[i]");
    r->cache.push_back(Str(o.Get("cacheDir"), "replicas[i].cacheDir"));
    r->sealed.push_back(Str(o.Get("sealedPath"), "replicas[i].sealedPath"));
    PrivateReplicaInfo_t& x = r->infos[i];
    x.registered_proof = I32(o.Get("postProof"), "replicas[i].postProof");
    Bytes32 c = Buf32(o.Get("commR"), "replicas[i].commR");
    std::memcpy(x.comm_r, c.data(), 32);
    x.sector_id = U64(o.Get("sectorId"), "replicas[i].sectorId");
  }
  for (size_t i = 0; i < r->infos.size(); i++) {
    r->infos[i].cache_dir_path = {reinterpret_cast<uint8_t*>(r->cache[i].data()), r->cache[i].size()};
    r->infos[i].replica_path = {reinterpret_cast<uint8_t*>(r->sealed[i].data()), r->sealed[i].size()};
  }
  return r;
}

std::vector<PublicReplicaInfo_t> PubReplicas(const Napi::Value& v) {
  Napi::Array a = Arr(v, "replicas");
  std::vector<PublicReplicaInfo_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object o = Obj(a.Get(i), "replicas[i]");
    out[i].registered_proof = I32(o.Get("postProof"), "replicas[i].postProof");
    Bytes32 c = Buf32(o.Get("commR"), "replicas[i].commR");
    std::memcpy(out[i].comm_r, c.data(), 32);
    out[i].sector_id = U64(o.Get("sectorId"), "replicas[i].sectorId");
  }
  return out;
}

struct Proofs {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<PoStProof_t> list;
};

std::shared_ptr<Proofs> PoStProofs(const Napi::Value& v) {
  Napi::Array a = Arr(v, "proofs");
  auto p = std::make_shared<Proofs>();
  p->bytes.reserve(a.Length());
  p->list.resize(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object o = Obj(a.Get(i), "proofs[i]");
    p->list[i].registered_proof = I32(o.Get("postProof"), "proofs[i].postProof");
    p->bytes.push_back(Bytes(o.Get("proof"), "proofs[i].proof"));
  }
  for (size_t i = 0; i < p->list.size(); i++) p->list[i].proof = {p->bytes[i].data(), p->bytes[i].size()};
  return p;
}

slice_ref_uint8_t Ref(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
slice_ref_uint8_t Ref(const std::vector<uint8_t>& b) { return {b.data(), b.size()}; }

Napi::Buffer<uint8_t> Buf(Napi::Env env, const uint8_t* p, size_t n) { return Napi::Buffer<uint8_t>::Copy(env, p, n); }

// Wraps a binding so that argument errors become a rejected Promise (TypeError), like the
// proof errors, rather than a synchronous throw.
using Binding = Napi::Value (*)(const Napi::CallbackInfo&);

template <Binding F>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const ArgError& e) {
    auto d = Napi::Promise::Deferred::New(info.Env());
    Napi::Error err = Napi::TypeError::New(info.Env(), e.what());
    err.Value().Set("statusCode", Napi::Number::New(info.Env(), F_C_P_RESPONSE_STATUS_CALLER_ERROR));
    d.Reject(err.Value());
    return d.Promise();
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

std::string Errno(const std::string& what, const std::string& path) { return what + " " + path + ": " + std::strerror(errno); }

// ------------------------------------------------------------------ bindings: pieces

Napi::Value WriteWithAlignment(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "proof");
  std::string src = Str(info[1], "srcPath");
  uint64_t size = U64(info[2], "srcSize");
  std::string dst = Str(info[3], "dstPath");
  std::vector<uint64_t> existing = U64s(info[4], "existingPieceSizes");
  return Submit(info.Env(), "write_with_alignment", [=]() -> Outcome {
    Fd s, d;
    s.fd = open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.fd < 0) return CallerError(Errno("cannot open piece", src));
    struct stat st;
    if (fstat(s.fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < size) {
      return CallerError("piece " + src + " holds " + std::to_string(st.st_size) + " bytes, fewer than the declared " + std::to_string(size));
    }
    d.fd = open(dst.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d.fd < 0) return CallerError(Errno("cannot open staged sector", dst));
    if (lseek(d.fd, 0, SEEK_END) < 0) return CallerError(Errno("cannot seek", dst));
    auto* r = write_with_alignment(proof, s.fd, size, d.fd, {existing.data(), existing.size()});
    Outcome o;
    if (!Failed(r, o)) {
      Bytes32 c;
      std::memcpy(c.data(), r->value.comm_p, 32);
      uint64_t left = r->value.left_alignment_unpadded, total = r->value.total_write_unpadded;
      if (fsync(d.fd) != 0) o = CallerError(Errno("fsync", dst));
      else
        o.make = [c, left, total](Napi::Env env) {
          Napi::Object v = Napi::Object::New(env);
          v.Set("commP", Buf(env, c.data(), 32));
          v.Set("leftAlignmentUnpadded", Napi::Number::New(env, static_cast<double>(left)));
          v.Set("totalWriteUnpadded", Napi::Number::New(env, static_cast<double>(total)));
          return v;
        };
    }
    destroy_write_with_alignment_response(r);
    return o;
  });
}

Napi::Value GeneratePieceCommitment(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "proof");
  std::string path = Str(info[1], "path");
  uint64_t size = U64(info[2], "unpaddedSize");
  return Submit(info.Env(), "generate_piece_commitment", [=]() -> Outcome {
    Fd f;
    f.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) return CallerError(Errno("cannot open piece", path));
    struct stat st;
    if (fstat(f.fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < size) {
      return CallerError("piece " + path + " holds fewer bytes than the declared " + std::to_string(size));
    }
    auto* r = generate_piece_commitment(proof, f.fd, size);
    Outcome o;
    if (!Failed(r, o)) {
      Bytes32 c;
      std::memcpy(c.data(), r->value.comm_p, 32);
      uint64_t n = r->value.num_bytes_aligned;
      o.make = [c, n](Napi::Env env) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("commP", Buf(env, c.data(), 32));
        v.Set("numBytesAligned", Napi::Number::New(env, static_cast<double>(n)));
        return v;
      };
    }
    destroy_generate_piece_commitment_response(r);
    return o;
  });
}

Napi::Value GenerateDataCommitment(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "proof");
  auto pieces = Pieces(info[1]);
  return Submit(info.Env(), "generate_data_commitment", [=]() -> Outcome {
    auto* r = generate_data_commitment(proof, {pieces.data(), pieces.size()});
    Outcome o;
    if (!Failed(r, o)) {
      Bytes32 c;
      std::memcpy(c.data(), r->value.idx, 32);
      o.make = [c](Napi::Env env) -> Napi::Value { return Buf(env, c.data(), 32); };
    }
    destroy_generate_data_commitment_response(r);
    return o;
  });
}

// ------------------------------------------------------------------ bindings: sealing

Napi::Value SealPreCommitPhase1(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "proof");
  std::string cache = Str(info[1], "cacheDir"), staged = Str(info[2], "stagedPath"), sealed = Str(info[3], "sealedPath");
  uint64_t sector = U64(info[4], "sectorId");
  Bytes32 prover = Buf32(info[5], "proverId"), ticket = Buf32(info[6], "ticket");
  auto pieces = Pieces(info[7]);
  return Submit(info.Env(), "seal_pre_commit_phase1", [=]() -> Outcome {
    const uint8_t(*p)[32] = reinterpret_cast<const uint8_t(*)[32]>(prover.data());
    const uint8_t(*t)[32] = reinterpret_cast<const uint8_t(*)[32]>(ticket.data());
    auto* r = seal_pre_commit_phase1(proof, Ref(cache), Ref(staged), Ref(sealed), sector, p, t, {pieces.data(), pieces.size()});
    Outcome o;
    if (!Failed(r, o)) {
      auto out = std::make_shared<std::vector<uint8_t>>(r->value.ptr, r->value.ptr + r->value.len);
      o.make = [out](Napi::Env env) -> Napi::Value { return Buf(env, out->data(), out->size()); };
    }
    destroy_seal_pre_commit_phase1_response(r);
    return o;
  });
}

Napi::Value SealPreCommitPhase2(const Napi::CallbackInfo& info) {
  auto pc1 = Bytes(info[0], "pc1Output");
  std::string cache = Str(info[1], "cacheDir"), sealed = Str(info[2], "sealedPath");
  return Submit(info.Env(), "seal_pre_commit_phase2", [=]() -> Outcome {
    auto* r = seal_pre_commit_phase2(Ref(pc1), Ref(cache), Ref(sealed));
    Outcome o;
    if (!Failed(r, o)) {
      Bytes32 d, cr;
      std::memcpy(d.data(), r->value.comm_d, 32);
      std::memcpy(cr.data(), r->value.comm_r, 32);
      int32_t p = r->value.registered_proof;
      o.make = [d, cr, p](Napi::Env env) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("proof", Napi::Number::New(env, p));
        v.Set("commD", Buf(env, d.data(), 32));
        v.Set("commR", Buf(env, cr.data(), 32));
        return v;
      };
    }
    destroy_seal_pre_commit_phase2_response(r);
    return o;
  });
}

Napi::Value SealCommitPhase1(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "proof");
  Bytes32 commR = Buf32(info[1], "commR"), commD = Buf32(info[2], "commD");
  std::string cache = Str(info[3], "cacheDir"), sealed = Str(info[4], "sealedPath");
  uint64_t sector = U64(info[5], "sectorId");
  Bytes32 prover = Buf32(info[6], "proverId"), ticket = Buf32(info[7], "ticket"), seed = Buf32(info[8], "seed");
  auto pieces = Pieces(info[9]);
  return Submit(info.Env(), "seal_commit_phase1", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = seal_commit_phase1(proof, a(commR), a(commD), Ref(cache), Ref(sealed), sector, a(prover), a(ticket), a(seed), {pieces.data(), pieces.size()});
    Outcome o;
    if (!Failed(r, o)) {
      auto out = std::make_shared<std::vector<uint8_t>>(r->value.ptr, r->value.ptr + r->value.len);
      o.make = [out](Napi::Env env) -> Napi::Value { return Buf(env, out->data(), out->size()); };
    }
    destroy_seal_commit_phase1_response(r);
    return o;
  });
}

Napi::Value SealCommitPhase2(const Napi::CallbackInfo& info) {
  auto c1 = Bytes(info[0], "c1Output");
  uint64_t sector = U64(info[1], "sectorId");
  Bytes32 prover = Buf32(info[2], "proverId");
  return Submit(info.Env(), "seal_commit_phase2", [=]() -> Outcome {
    auto* r = seal_commit_phase2(Ref(c1), sector, reinterpret_cast<const uint8_t(*)[32]>(prover.data()));
    Outcome o;
    if (!Failed(r, o)) {
      auto out = std::make_shared<std::vector<uint8_t>>(r->value.ptr, r->value.ptr + r->value.len);
      o.make = [out](Napi::Env env) -> Napi::Value { return Buf(env, out->data(), out->size()); };
    }
    destroy_seal_commit_phase2_response(r);
    return o;
  });
}

Napi::Value VerifySeal(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "proof");
  Bytes32 commR = Buf32(info[1], "commR"), commD = Buf32(info[2], "commD"), prover = Buf32(info[3], "proverId");
  Bytes32 ticket = Buf32(info[4], "ticket"), seed = Buf32(info[5], "seed");
  uint64_t sector = U64(info[6], "sectorId");
  auto bytes = Bytes(info[7], "proofBytes");
  return Submit(info.Env(), "verify_seal", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = verify_seal(proof, a(commR), a(commD), a(prover), a(ticket), a(seed), sector, Ref(bytes));
    Outcome o;
    if (!Failed(r, o)) {
      bool ok = r->value;
      o.make = [ok](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, ok); };
    }
    destroy_verify_seal_response(r);
    return o;
  });
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  uint64_t size = U64(info[0], "sectorSize");
  std::string cache = Str(info[1], "cacheDir");
  return Submit(info.Env(), "clear_cache", [=]() -> Outcome {
    auto* r = clear_cache(size, Ref(cache));
    Outcome o;
    Failed(r, o);
    destroy_clear_cache_response(r);
    return o;
  });
}

// ------------------------------------------------------------------ bindings: PoSt

Napi::Value PoStProofsValue(Napi::Env env, const std::vector<std::pair<int32_t, std::vector<uint8_t>>>& ps) {
  Napi::Array a = Napi::Array::New(env, ps.size());
  for (size_t i = 0; i < ps.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("postProof", Napi::Number::New(env, ps[i].first));
    o.Set("proof", Buf(env, ps[i].second.data(), ps[i].second.size()));
    a.Set(i, o);
  }
  return a;
}

std::vector<std::pair<int32_t, std::vector<uint8_t>>> CopyProofs(const slice_boxed_PoStProof_t& s) {
  std::vector<std::pair<int32_t, std::vector<uint8_t>>> out;
  for (size_t i = 0; i < s.len; i++) {
    out.emplace_back(s.ptr[i].registered_proof, std::vector<uint8_t>(s.ptr[i].proof.ptr, s.ptr[i].proof.ptr + s.ptr[i].proof.len));
  }
  return out;
}

Napi::Value Numbers(Napi::Env env, const std::vector<uint64_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(i, Napi::Number::New(env, static_cast<double>(v[i])));
  return a;
}

Napi::Value GenerateWinningPoStSectorChallenge(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "postProof");
  Bytes32 rand = Buf32(info[1], "randomness");
  uint64_t n = U64(info[2], "sectorSetLen");
  Bytes32 prover = Buf32(info[3], "proverId");
  return Submit(info.Env(), "generate_winning_post_sector_challenge", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = generate_winning_post_sector_challenge(proof, a(rand), n, a(prover));
    Outcome o;
    if (!Failed(r, o)) {
      std::vector<uint64_t> v(r->value.ptr, r->value.ptr + r->value.len);
      o.make = [v](Napi::Env env) { return Numbers(env, v); };
    }
    destroy_generate_winning_post_sector_challenge(r);
    return o;
  });
}

Napi::Value GenerateWinningPoSt(const Napi::CallbackInfo& info) {
  Bytes32 rand = Buf32(info[0], "randomness");
  auto reps = PrivReplicas(info[1]);
  Bytes32 prover = Buf32(info[2], "proverId");
  return Submit(info.Env(), "generate_winning_post", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = generate_winning_post(a(rand), {reps->infos.data(), reps->infos.size()}, a(prover));
    Outcome o;
    if (!Failed(r, o)) {
      auto ps = CopyProofs(r->value);
      o.make = [ps](Napi::Env env) { return PoStProofsValue(env, ps); };
    }
    destroy_generate_winning_post_response(r);
    return o;
  });
}

Napi::Value VerifyWinningPoSt(const Napi::CallbackInfo& info) {
  Bytes32 rand = Buf32(info[0], "randomness");
  auto reps = PubReplicas(info[1]);
  auto proofs = PoStProofs(info[2]);
  Bytes32 prover = Buf32(info[3], "proverId");
  return Submit(info.Env(), "verify_winning_post", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = verify_winning_post(a(rand), {reps.data(), reps.size()}, {proofs->list.data(), proofs->list.size()}, a(prover));
    Outcome o;
    if (!Failed(r, o)) {
      bool ok = r->value;
      o.make = [ok](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, ok); };
    }
    destroy_verify_winning_post_response(r);
    return o;
  });
}

Napi::Value GenerateFallbackSectorChallenges(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "postProof");
  Bytes32 rand = Buf32(info[1], "randomness");
  auto ids = U64s(info[2], "sectorIds");
  Bytes32 prover = Buf32(info[3], "proverId");
  return Submit(info.Env(), "generate_fallback_sector_challenges", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = generate_fallback_sector_challenges(proof, a(rand), {ids.data(), ids.size()}, a(prover));
    Outcome o;
    if (!Failed(r, o)) {
      std::vector<uint64_t> sids(r->value.ids.ptr, r->value.ids.ptr + r->value.ids.len);
      std::vector<std::vector<uint64_t>> ch;
      for (size_t i = 0; i < r->value.challenges.len; i++) {
        auto& c = r->value.challenges.ptr[i];
        ch.emplace_back(c.ptr, c.ptr + c.len);
      }
      o.make = [sids, ch](Napi::Env env) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("ids", Numbers(env, sids));
        Napi::Array a2 = Napi::Array::New(env, ch.size());
        for (size_t i = 0; i < ch.size(); i++) a2.Set(i, Numbers(env, ch[i]));
        v.Set("challenges", a2);
        return v;
      };
    }
    destroy_generate_fallback_sector_challenges_response(r);
    return o;
  });
}

Napi::Value GenerateWindowPoSt(const Napi::CallbackInfo& info) {
  Bytes32 rand = Buf32(info[0], "randomness");
  auto reps = PrivReplicas(info[1]);
  Bytes32 prover = Buf32(info[2], "proverId");
  return Submit(info.Env(), "generate_window_post", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = generate_window_post(a(rand), {reps->infos.data(), reps->infos.size()}, a(prover));
    Outcome o;
    std::vector<uint64_t> faulty(r->value.faulty_sectors.ptr, r->value.faulty_sectors.ptr + r->value.faulty_sectors.len);
    if (!Failed(r, o)) {
      auto ps = CopyProofs(r->value.proofs);
      o.make = [ps, faulty](Napi::Env env) {
        Napi::Object v = Napi::Object::New(env);
        v.Set("proofs", PoStProofsValue(env, ps));
        v.Set("faultySectors", Numbers(env, faulty));
        return v;
      };
    } else {
      o.faulty = faulty;
    }
    destroy_generate_window_post_response(r);
    return o;
  });
}

Napi::Value VerifyWindowPoSt(const Napi::CallbackInfo& info) {
  Bytes32 rand = Buf32(info[0], "randomness");
  auto reps = PubReplicas(info[1]);
  auto proofs = PoStProofs(info[2]);
  Bytes32 prover = Buf32(info[3], "proverId");
  return Submit(info.Env(), "verify_window_post", [=]() -> Outcome {
    auto a = [](const Bytes32& b) { return reinterpret_cast<const uint8_t(*)[32]>(b.data()); };
    auto* r = verify_window_post(a(rand), {reps.data(), reps.size()}, {proofs->list.data(), proofs->list.size()}, a(prover));
    Outcome o;
    if (!Failed(r, o)) {
      bool ok = r->value;
      o.make = [ok](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, ok); };
    }
    destroy_verify_window_post_response(r);
    return o;
  });
}

Napi::Value GetNumPartitionForFallbackPoSt(const Napi::CallbackInfo& info) {
  int32_t proof = I32(info[0], "postProof");
  uint64_t n = U64(info[1], "numSectors");
  return Submit(info.Env(), "get_num_partition_for_fallback_post", [=]() -> Outcome {
    auto* r = get_num_partition_for_fallback_post(proof, static_cast<size_t>(n));
    Outcome o;
    if (!Failed(r, o)) {
      double v = static_cast<double>(r->value);
      o.make = [v](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, v); };
    }
    destroy_get_num_partition_for_fallback_post_response(r);
    return o;
  });
}

// ------------------------------------------------------------------ configuration and extensions

Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  bool applied = true;
  {
    std::lock_guard<std::mutex> lk(g_config_mu);
    if (opts.Has("parameterCache") && opts.Get("parameterCache").IsString()) {
      std::string dir = opts.Get("parameterCache").As<Napi::String>().Utf8Value();
      const char* cur = std::getenv("FIL_PROOFS_PARAMETER_CACHE");
      if (!cur || dir != cur) {
        // The proofs library reads its settings once, at its first call: too late after that.
        if (g_proof_started) applied = false;
        else setenv("FIL_PROOFS_PARAMETER_CACHE", dir.c_str(), 1);
      }
    }
    if (opts.Has("threads") && opts.Get("threads").IsNumber() && !g_pool) {
      int n = opts.Get("threads").As<Napi::Number>().Int32Value();
      if (n > 0 && n <= 1024) g_pool_threads = static_cast<size_t>(n);
    }
  }
  Napi::Object out = Napi::Object::New(env);
  const char* cur = std::getenv("FIL_PROOFS_PARAMETER_CACHE");
  out.Set("parameterCache", cur ? cur : "");
  out.Set("threads", Napi::Number::New(env, static_cast<double>(g_pool_threads)));
  out.Set("configured", Napi::Boolean::New(env, applied));
  return out;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("threads", Napi::Number::New(env, static_cast<double>(g_pool ? g_pool->size() : g_pool_threads)));
  out.Set("running", Napi::Number::New(env, g_pool ? g_pool->running() : 0));
  out.Set("queued", Napi::Number::New(env, g_pool ? g_pool->queued() : 0));
#ifdef DISTMINER_CUDA
  out.Set("cuda", Napi::Boolean::New(env, true));
#else
  out.Set("cuda", Napi::Boolean::New(env, false));
#endif
#ifdef DISTMINER_EXTERNAL_FILCRYPTO
  out.Set("filcrypto", "external");
#else
  out.Set("filcrypto", "distminer");
#endif
  return out;
}

#ifndef DISTMINER_EXTERNAL_FILCRYPTO
Napi::Value ParamFiles(const Napi::CallbackInfo& info, bool seal) {
  Napi::Env env = info.Env();
  int32_t proof = I32(info[0], "proof");
  auto* r = seal ? distminer_seal_param_files(proof) : distminer_post_param_files(proof);
  if (r->status_code != 0) {
    std::string m(reinterpret_cast<const char*>(r->error_msg.ptr), r->error_msg.len);
    destroy_distminer_param_files_response(r);
    throw Napi::Error::New(env, m);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("params", std::string(reinterpret_cast<const char*>(r->value.params_path.ptr), r->value.params_path.len));
  out.Set("vk", std::string(reinterpret_cast<const char*>(r->value.vk_path.ptr), r->value.vk_path.len));
  destroy_distminer_param_files_response(r);
  return out;
}

Napi::Value SealParamFiles(const Napi::CallbackInfo& info) {
  try {
    return ParamFiles(info, true);
  } catch (const ArgError& e) {
    throw Napi::TypeError::New(info.Env(), e.what());
  }
}
Napi::Value PostParamFiles(const Napi::CallbackInfo& info) {
  try {
    return ParamFiles(info, false);
  } catch (const ArgError& e) {
    throw Napi::TypeError::New(info.Env(), e.what());
  }
}

Napi::Value DebugPanic(const Napi::CallbackInfo& info) {
  std::string msg = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "debug panic";
  return Submit(info.Env(), "distminer_debug_panic", [msg]() -> Outcome {
    auto* r = distminer_debug_panic(Ref(msg));
    Outcome o;
    Failed(r, o);
    destroy_clear_cache_response(r);
    return o;
  });
}
#endif

// ownSession(parentPid, newSession): setsid() when newSession, and prctl(PR_SET_PDEATHSIG,
// SIGKILL). A sealing proof process does both so that (1) it is in a session, and so a
// scheduler autogroup, of its own: a PoSt host raises its own session's autogroup
// (actors/priority.ts) and sealing work must not share that boost (a PoSt proof process stays
// in the miner's session and keeps it); and (2) it dies with its miner however the miner dies,
// even while it is stopped
// (SIGSTOP during a PoSt): SIGKILL ends a stopped process too. (A process group in a session of
// its own is orphaned from the start, so the kernel's hang-up of orphaned stopped groups would
// never come; the death signal replaces it.) If the parent died before the death signal was
// set, getppid() no longer names it: the process kills itself. Returns the session id.
Napi::Value OwnSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
    Napi::TypeError::New(env, "ownSession(parentPid: number, newSession: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const pid_t parent = static_cast<pid_t>(info[0].As<Napi::Number>().Int32Value());
  const pid_t sid = info[1].As<Napi::Boolean>().Value() ? setsid() : getsid(0);
  if (sid < 0) {
    Napi::Error::New(env, std::string("setsid: ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    Napi::Error::New(env, std::string("prctl(PR_SET_PDEATHSIG): ") + std::strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (getppid() != parent) raise(SIGKILL);
  return Napi::Number::New(env, static_cast<double>(sid));
}

// flock(fd, exclusive, nonblocking): a BSD lock on an open file, for the lock files of the
// stores (src/util/durable.ts). exclusive: true = LOCK_EX, false = LOCK_SH, null = unlock.
// The kernel drops the lock when the last descriptor of that open file is closed, including
// when the holder dies, so a lock is never stale. Two opens of one path are two open files
// and conflict even within one process. Returns false when nonblocking and the lock is held
// elsewhere (EWOULDBLOCK). A blocking call blocks the calling thread: use nonblocking on the
// main thread.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !(info[1].IsBoolean() || info[1].IsNull()) || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "flock(fd: number, exclusive: boolean | null, nonblocking: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].IsNull() ? LOCK_UN : (info[1].As<Napi::Boolean>().Value() ? LOCK_EX : LOCK_SH);
  if (info[2].As<Napi::Boolean>().Value()) op |= LOCK_NB;
  int r;
  do {
    r = flock(fd, op);
  } while (r != 0 && errno == EINTR);
  if (r == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  const int err = errno;
  Napi::Error e = Napi::Error::New(env, std::string("flock: ") + std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("configure", Napi::Function::New(env, Configure));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("ownSession", Napi::Function::New(env, OwnSession));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("writeWithAlignment", Napi::Function::New(env, Guard<WriteWithAlignment>));
  exports.Set("generatePieceCommitment", Napi::Function::New(env, Guard<GeneratePieceCommitment>));
  exports.Set("generateDataCommitment", Napi::Function::New(env, Guard<GenerateDataCommitment>));
  exports.Set("sealPreCommitPhase1", Napi::Function::New(env, Guard<SealPreCommitPhase1>));
  exports.Set("sealPreCommitPhase2", Napi::Function::New(env, Guard<SealPreCommitPhase2>));
  exports.Set("sealCommitPhase1", Napi::Function::New(env, Guard<SealCommitPhase1>));
  exports.Set("sealCommitPhase2", Napi::Function::New(env, Guard<SealCommitPhase2>));
  exports.Set("verifySeal", Napi::Function::New(env, Guard<VerifySeal>));
  exports.Set("clearCache", Napi::Function::New(env, Guard<ClearCache>));
  exports.Set("generateWinningPoStSectorChallenge", Napi::Function::New(env, Guard<GenerateWinningPoStSectorChallenge>));
  exports.Set("generateWinningPoSt", Napi::Function::New(env, Guard<GenerateWinningPoSt>));
  exports.Set("verifyWinningPoSt", Napi::Function::New(env, Guard<VerifyWinningPoSt>));
  exports.Set("generateFallbackSectorChallenges", Napi::Function::New(env, Guard<GenerateFallbackSectorChallenges>));
  exports.Set("generateWindowPoSt", Napi::Function::New(env, Guard<GenerateWindowPoSt>));
  exports.Set("verifyWindowPoSt", Napi::Function::New(env, Guard<VerifyWindowPoSt>));
  exports.Set("getNumPartitionForFallbackPoSt", Napi::Function::New(env, Guard<GetNumPartitionForFallbackPoSt>));
#ifndef DISTMINER_EXTERNAL_FILCRYPTO
  exports.Set("sealParamFiles", Napi::Function::New(env, SealParamFiles));
  exports.Set("postParamFiles", Napi::Function::New(env, PostParamFiles));
  exports.Set("debugPanic", Napi::Function::New(env, DebugPanic));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(distminer_proofs, Init)
