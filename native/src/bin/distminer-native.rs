//! Helper binary for the things that belong in their own process:
//!
//! - `paramgen --dest DIR --circuit porep|winning-post|window-post`: deterministic 2KiB
//!   parameters, generated in a staging directory and renamed into DIR (see `params.rs`).
//!   One circuit per process: the proofs library reads its settings once per process and
//!   keeps generated parameters in memory.
//! - `digest FILE...`: sha256 of files, as the manifest records them.
//! - `bench --dir DIR --runs N --ops a,b,c`: times the C-ABI entry points called directly
//!   from Rust (no Node, no addon), to measure what the addon costs on top. Prints JSON.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use distminer_proofs::ffi::{SliceRef, STATUS_OK};
use distminer_proofs::params::{self, Circuit};
use distminer_proofs::*;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("paramgen") => paramgen(&args),
        Some("digest") => digest(&args[2..]),
        Some("bench") => bench(&args),
        _ => {
            eprintln!("usage: distminer-native paramgen --dest DIR --circuit porep|winning-post|window-post\n       distminer-native digest FILE...\n       distminer-native bench --dir DIR --runs N [--ops list]");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn paramgen(args: &[String]) -> Result<()> {
    let dest = PathBuf::from(arg(args, "--dest").context("--dest DIR is required")?);
    let circuit = Circuit::parse(&arg(args, "--circuit").context("--circuit is required")?)?;
    std::fs::create_dir_all(&dest)?;
    let staging = dest.join(format!(".staging-{}-{}", circuit.name(), std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    // Must happen before the proofs library reads its settings (first call below).
    std::env::set_var("FIL_PROOFS_PARAMETER_CACHE", &staging);
    std::env::set_var("FIL_PROOFS_VERIFY_PRODUCTION_PARAMS", "0");
    let result = (|| {
        params::timed(&format!("generate {}", circuit.name()), || params::generate_in_place(circuit))?;
        params::install(circuit, &staging, &dest)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    let digests = result?;
    let mut out = std::io::stdout();
    let map: BTreeMap<_, _> = digests.into_iter().collect();
    writeln!(out, "{}", serde_json::to_string(&serde_json::json!({ "circuit": circuit.name(), "files": map }))?)?;
    Ok(())
}

fn digest(files: &[String]) -> Result<()> {
    let mut map = BTreeMap::new();
    for f in files {
        map.insert(f.clone(), params::sha256_file(std::path::Path::new(f))?);
    }
    println!("{}", serde_json::to_string(&map)?);
    Ok(())
}

// ------------------------------------------------------------------ bench

const SEAL_2K: i32 = 5; // StackedDrg2KiBV1_1
const WINNING_2K: i32 = 0;
const WINDOW_2K: i32 = 10; // StackedDrgWindow2KiBV1_1 (proofs V1_2)

fn sref(b: &[u8]) -> SliceRef<u8> {
    SliceRef { ptr: b.as_ptr(), len: b.len() }
}

unsafe fn check<T>(name: &str, r: *mut ffi::Response<T>) -> Result<*mut ffi::Response<T>> {
    if (*r).status_code != STATUS_OK {
        let m = std::slice::from_raw_parts((*r).error_msg.ptr, (*r).error_msg.len);
        bail!("{name}: {}", String::from_utf8_lossy(m));
    }
    Ok(r)
}

struct Sealed {
    cache: PathBuf,
    sealed: PathBuf,
    comm_r: [u8; 32],
    comm_d: [u8; 32],
    piece: PublicPieceInfo,
    sector: u64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(args: &[String]) -> Result<()> {
    let dir = PathBuf::from(arg(args, "--dir").context("--dir is required")?);
    let runs: usize = arg(args, "--runs").unwrap_or_else(|| "3".into()).parse()?;
    let ops = arg(args, "--ops").unwrap_or_else(|| {
        "add_piece,precommit1,precommit2,commit1,commit2,verify_seal,data_commitment,winning_post,window_post".into()
    });
    let ops: Vec<&str> = ops.split(',').collect();
    std::fs::create_dir_all(&dir)?;
    let prover = {
        let mut p = [0u8; 32];
        p[0] = 0xe8; // uvarint(1000) = e8 07
        p[1] = 0x07;
        p
    };
    let ticket = [7u8; 32];
    let seed = [9u8; 32];
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut t = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let s = Instant::now();
        f()?;
        times.entry(name).or_default().push(s.elapsed().as_secs_f64() * 1000.0);
        Ok(())
    };
    let mut sealed: Vec<Sealed> = Vec::new();
    let mut proof_bytes: Vec<u8> = Vec::new();
    let need_seal = ops.iter().any(|o| !matches!(*o, "data_commitment"));
    let sectors = if ops.contains(&"window_post") { runs.max(2) } else { runs };
    for i in 0..(if need_seal { sectors } else { 0 }) {
        let sector = 100 + i as u64;
        let sd = dir.join(format!("s-{sector}"));
        let _ = std::fs::remove_dir_all(&sd);
        std::fs::create_dir_all(sd.join("cache"))?;
        let piece_path = sd.join("piece");
        let data: Vec<u8> = (0..2032u32).map(|x| (x * 31 + i as u32) as u8).collect();
        std::fs::write(&piece_path, &data)?;
        let staged = sd.join("staged");
        let sealed_p = sd.join("sealed");
        std::fs::File::create(&staged)?;
        std::fs::File::create(&sealed_p)?;
        let cache = sd.join("cache");
        unsafe {
            use std::os::unix::io::AsRawFd;
            let mut piece = PublicPieceInfo { num_bytes: 2032, comm_p: [0; 32] };
            t("add_piece", &mut || {
                let src = std::fs::File::open(&piece_path)?;
                let dst = std::fs::OpenOptions::new().read(true).write(true).open(&staged)?;
                let r = check("add_piece", write_with_alignment(SEAL_2K, src.as_raw_fd(), 2032, dst.as_raw_fd(), SliceRef { ptr: std::ptr::null(), len: 0 }))?;
                piece.comm_p = (*r).value.comm_p;
                destroy_write_with_alignment_response(r);
                Ok(())
            })?;
            let pieces = [piece];
            let pref = SliceRef { ptr: pieces.as_ptr(), len: 1 };
            let cache_s = cache.to_string_lossy().into_owned();
            let staged_s = staged.to_string_lossy().into_owned();
            let sealed_s = sealed_p.to_string_lossy().into_owned();
            let mut p1: Vec<u8> = Vec::new();
            t("precommit1", &mut || {
                let r = check("pc1", seal_pre_commit_phase1(SEAL_2K, sref(cache_s.as_bytes()), sref(staged_s.as_bytes()), sref(sealed_s.as_bytes()), sector, &prover, &ticket, pref))?;
                p1 = std::slice::from_raw_parts((*r).value.ptr, (*r).value.len).to_vec();
                destroy_seal_pre_commit_phase1_response(r);
                Ok(())
            })?;
            let (mut comm_r, mut comm_d) = ([0u8; 32], [0u8; 32]);
            t("precommit2", &mut || {
                let r = check("pc2", seal_pre_commit_phase2(sref(&p1), sref(cache_s.as_bytes()), sref(sealed_s.as_bytes())))?;
                comm_r = (*r).value.comm_r;
                comm_d = (*r).value.comm_d;
                destroy_seal_pre_commit_phase2_response(r);
                Ok(())
            })?;
            if i < runs && (ops.contains(&"commit1") || ops.contains(&"commit2") || ops.contains(&"verify_seal")) {
                let mut c1: Vec<u8> = Vec::new();
                t("commit1", &mut || {
                    let r = check("c1", seal_commit_phase1(SEAL_2K, &comm_r, &comm_d, sref(cache_s.as_bytes()), sref(sealed_s.as_bytes()), sector, &prover, &ticket, &seed, pref))?;
                    c1 = std::slice::from_raw_parts((*r).value.ptr, (*r).value.len).to_vec();
                    destroy_seal_commit_phase1_response(r);
                    Ok(())
                })?;
                if ops.contains(&"commit2") || ops.contains(&"verify_seal") {
                    t("commit2", &mut || {
                        let r = check("c2", seal_commit_phase2(sref(&c1), sector, &prover))?;
                        proof_bytes = std::slice::from_raw_parts((*r).value.ptr, (*r).value.len).to_vec();
                        destroy_seal_commit_phase2_response(r);
                        Ok(())
                    })?;
                    t("verify_seal", &mut || {
                        let r = check("verify", verify_seal(SEAL_2K, &comm_r, &comm_d, &prover, &ticket, &seed, sector, sref(&proof_bytes)))?;
                        if !(*r).value {
                            bail!("verify_seal returned false");
                        }
                        destroy_verify_seal_response(r);
                        Ok(())
                    })?;
                }
            }
            sealed.push(Sealed { cache, sealed: sealed_p, comm_r, comm_d, piece, sector });
        }
    }
    unsafe {
        if ops.contains(&"data_commitment") {
            let pieces = [PublicPieceInfo { num_bytes: 2032, comm_p: [1u8; 32] }];
            for _ in 0..runs.max(100) {
                t("data_commitment", &mut || {
                    let r = check("comm_d", generate_data_commitment(SEAL_2K, SliceRef { ptr: pieces.as_ptr(), len: 1 }))?;
                    destroy_generate_data_commitment_response(r);
                    Ok(())
                })?;
            }
        }
        let replica = |s: &Sealed, kind: i32| PrivateReplicaInfo {
            registered_proof: kind,
            cache_dir_path: s.cache.to_string_lossy().into_owned().into_bytes().into(),
            comm_r: s.comm_r,
            replica_path: s.sealed.to_string_lossy().into_owned().into_bytes().into(),
            sector_id: s.sector,
        };
        let randomness = [3u8; 32];
        if ops.contains(&"winning_post") && !sealed.is_empty() {
            for _ in 0..runs {
                let reps = [replica(&sealed[0], WINNING_2K)];
                t("winning_post", &mut || {
                    let r = check("winning", generate_winning_post(&randomness, SliceRef { ptr: reps.as_ptr(), len: 1 }, &prover))?;
                    destroy_generate_winning_post_response(r);
                    Ok(())
                })?;
            }
        }
        if ops.contains(&"window_post") && sealed.len() >= 2 {
            for _ in 0..runs {
                let reps = [replica(&sealed[0], WINDOW_2K), replica(&sealed[1], WINDOW_2K)];
                t("window_post", &mut || {
                    let r = check("window", generate_window_post(&randomness, SliceRef { ptr: reps.as_ptr(), len: 2 }, &prover))?;
                    destroy_generate_window_post_response(r);
                    Ok(())
                })?;
            }
        }
    }
    let _ = sealed.iter().map(|s| (s.comm_d, s.piece.num_bytes)).count();
    let mut result = serde_json::Map::new();
    for (k, mut v) in times {
        let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = v.iter().cloned().fold(0.0, f64::max);
        let n = v.len();
        let med = median(&mut v);
        result.insert(k.to_string(), serde_json::json!({ "runs": n, "median_ms": med, "min_ms": min, "max_ms": max }));
    }
    println!("{}", serde_json::Value::Object(result));
    Ok(())
}
