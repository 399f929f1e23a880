//! distminer-proofs: the Filecoin proofs (`filecoin-proofs-api`) behind a C ABI with the
//! names and layouts of filecoin-ffi's `filcrypto.h` (see `include/filcrypto.h`), so the
//! Node addon can be linked against this crate or against a user's own libfilcrypto.
//!
//! Every entry point returns a heap-allocated response `{status_code, error_msg, value}`
//! that the caller frees with the matching `destroy_*_response`; every entry point runs
//! under `catch_unwind`, so a panic in the proofs library becomes an error response.
//! Functions that are not in filcrypto.h carry a `distminer_` prefix.

#![allow(clippy::missing_safety_doc)]

pub mod ffi;
pub mod params;

use std::collections::BTreeMap;
use std::fs::File;
use std::mem::ManuallyDrop;
use std::os::unix::io::FromRawFd;

use anyhow::anyhow;
use filecoin_proofs_api::seal::{self, SealCommitPhase1Output, SealPreCommitPhase1Output};
use filecoin_proofs_api::{
    post, PieceInfo, PrivateReplicaInfo as ApiPrivateReplica, PublicReplicaInfo as ApiPublicReplica,
    RegisteredPoStProof as ApiPoSt, RegisteredSealProof as ApiSeal, SectorId, StorageProofsError,
    UnpaddedBytesAmount,
};

use ffi::{destroy, respond, CallerError, Response, SliceBox, SliceRef};

// ---------------------------------------------------------------- proof types

/// `RegisteredSealProof` of filcrypto.h (an int32 enum, same numbering).
pub fn seal_proof(v: i32) -> Result<ApiSeal, CallerError> {
    use ApiSeal::*;
    Ok(match v {
        0 => StackedDrg2KiBV1,
        1 => StackedDrg8MiBV1,
        2 => StackedDrg512MiBV1,
        3 => StackedDrg32GiBV1,
        4 => StackedDrg64GiBV1,
        5 => StackedDrg2KiBV1_1,
        6 => StackedDrg8MiBV1_1,
        7 => StackedDrg512MiBV1_1,
        8 => StackedDrg32GiBV1_1,
        9 => StackedDrg64GiBV1_1,
        _ => return Err(CallerError(format!("unknown RegisteredSealProof {v}"))),
    })
}

fn seal_proof_code(p: ApiSeal) -> i32 {
    use ApiSeal::*;
    match p {
        StackedDrg2KiBV1 => 0,
        StackedDrg8MiBV1 => 1,
        StackedDrg512MiBV1 => 2,
        StackedDrg32GiBV1 => 3,
        StackedDrg64GiBV1 => 4,
        StackedDrg2KiBV1_1 => 5,
        StackedDrg8MiBV1_1 => 6,
        StackedDrg512MiBV1_1 => 7,
        StackedDrg32GiBV1_1 => 8,
        StackedDrg64GiBV1_1 => 9,
        _ => -1,
    }
}

/// `RegisteredPoStProof` of filcrypto.h. As in filecoin-ffi, the Window PoSt types the
/// chain calls `...V1_1` (10..14) are the proofs library's grinding-fixed `...V1_2`.
pub fn post_proof(v: i32) -> Result<ApiPoSt, CallerError> {
    use ApiPoSt::*;
    Ok(match v {
        0 => StackedDrgWinning2KiBV1,
        1 => StackedDrgWinning8MiBV1,
        2 => StackedDrgWinning512MiBV1,
        3 => StackedDrgWinning32GiBV1,
        4 => StackedDrgWinning64GiBV1,
        5 => StackedDrgWindow2KiBV1,
        6 => StackedDrgWindow8MiBV1,
        7 => StackedDrgWindow512MiBV1,
        8 => StackedDrgWindow32GiBV1,
        9 => StackedDrgWindow64GiBV1,
        10 => StackedDrgWindow2KiBV1_2,
        11 => StackedDrgWindow8MiBV1_2,
        12 => StackedDrgWindow512MiBV1_2,
        13 => StackedDrgWindow32GiBV1_2,
        14 => StackedDrgWindow64GiBV1_2,
        _ => return Err(CallerError(format!("unknown RegisteredPoStProof {v}"))),
    })
}

fn post_proof_code(p: ApiPoSt) -> i32 {
    use ApiPoSt::*;
    match p {
        StackedDrgWinning2KiBV1 => 0,
        StackedDrgWinning8MiBV1 => 1,
        StackedDrgWinning512MiBV1 => 2,
        StackedDrgWinning32GiBV1 => 3,
        StackedDrgWinning64GiBV1 => 4,
        StackedDrgWindow2KiBV1 => 5,
        StackedDrgWindow8MiBV1 => 6,
        StackedDrgWindow512MiBV1 => 7,
        StackedDrgWindow32GiBV1 => 8,
        StackedDrgWindow64GiBV1 => 9,
        StackedDrgWindow2KiBV1_2 => 10,
        StackedDrgWindow8MiBV1_2 => 11,
        StackedDrgWindow512MiBV1_2 => 12,
        StackedDrgWindow32GiBV1_2 => 13,
        StackedDrgWindow64GiBV1_2 => 14,
    }
}

// ---------------------------------------------------------------- value types

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PublicPieceInfo {
    pub num_bytes: u64,
    pub comm_p: [u8; 32],
}

#[repr(C)]
pub struct PrivateReplicaInfo {
    pub registered_proof: i32,
    pub cache_dir_path: SliceBox<u8>,
    pub comm_r: [u8; 32],
    pub replica_path: SliceBox<u8>,
    pub sector_id: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PublicReplicaInfo {
    pub registered_proof: i32,
    pub comm_r: [u8; 32],
    pub sector_id: u64,
}

#[repr(C)]
pub struct PoStProof {
    pub registered_proof: i32,
    pub proof: SliceBox<u8>,
}

#[repr(C)]
#[derive(Default)]
pub struct WriteWithAlignment {
    pub comm_p: [u8; 32],
    pub left_alignment_unpadded: u64,
    pub total_write_unpadded: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct GeneratePieceCommitment {
    pub comm_p: [u8; 32],
    pub num_bytes_aligned: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct SealPreCommitPhase2 {
    pub registered_proof: i32,
    pub comm_d: [u8; 32],
    pub comm_r: [u8; 32],
}

#[repr(C)]
#[derive(Default)]
pub struct GenerateFallbackSectorChallenges {
    pub ids: SliceBox<u64>,
    pub challenges: SliceBox<SliceBox<u64>>,
}

#[repr(C)]
#[derive(Default)]
pub struct GenerateWindowPoSt {
    pub proofs: SliceBox<PoStProof>,
    pub faulty_sectors: SliceBox<u64>,
}

#[repr(C)]
#[derive(Default)]
pub struct DistminerParamFiles {
    pub params_path: SliceBox<u8>,
    pub vk_path: SliceBox<u8>,
}

pub type WriteWithAlignmentResponse = Response<WriteWithAlignment>;
pub type GeneratePieceCommitmentResponse = Response<GeneratePieceCommitment>;
pub type GenerateDataCommitmentResponse = Response<[u8; 32]>;
pub type SealPreCommitPhase1Response = Response<SliceBox<u8>>;
pub type SealPreCommitPhase2Response = Response<SealPreCommitPhase2>;
pub type SealCommitPhase1Response = Response<SliceBox<u8>>;
pub type SealCommitPhase2Response = Response<SliceBox<u8>>;
pub type VerifySealResponse = Response<bool>;
pub type GenerateWinningPoStSectorChallenge = Response<SliceBox<u64>>;
pub type GenerateFallbackSectorChallengesResponse = Response<GenerateFallbackSectorChallenges>;
pub type GenerateWinningPoStResponse = Response<SliceBox<PoStProof>>;
pub type VerifyWinningPoStResponse = Response<bool>;
pub type GenerateWindowPoStResponse = Response<GenerateWindowPoSt>;
pub type VerifyWindowPoStResponse = Response<bool>;
pub type GetNumPartitionForFallbackPoStResponse = Response<usize>;
pub type ClearCacheResponse = Response<()>;
pub type DistminerParamFilesResponse = Response<DistminerParamFiles>;

// ---------------------------------------------------------------- helpers

/// A file descriptor we borrow: it is not closed when dropped (the caller owns it).
fn borrow_fd(fd: i32, what: &str) -> Result<ManuallyDrop<File>, CallerError> {
    if fd < 0 {
        return Err(CallerError(format!("{what}: invalid file descriptor {fd}")));
    }
    // Safety: the caller guarantees fd is open for the duration of the call; ManuallyDrop
    // keeps us from closing it.
    Ok(ManuallyDrop::new(unsafe { File::from_raw_fd(fd) }))
}

unsafe fn pieces(p: &SliceRef<PublicPieceInfo>) -> Vec<PieceInfo> {
    p.as_slice()
        .iter()
        .map(|x| PieceInfo { commitment: x.comm_p, size: UnpaddedBytesAmount(x.num_bytes) })
        .collect()
}

unsafe fn path_of(b: &SliceBox<u8>, what: &str) -> Result<std::path::PathBuf, CallerError> {
    SliceRef { ptr: b.ptr as *const u8, len: b.len }.as_path(what)
}

unsafe fn private_replicas(
    r: &SliceRef<PrivateReplicaInfo>,
) -> anyhow::Result<BTreeMap<SectorId, ApiPrivateReplica>> {
    let mut out = BTreeMap::new();
    for x in r.as_slice() {
        let info = ApiPrivateReplica::new(
            post_proof(x.registered_proof)?,
            x.comm_r,
            path_of(&x.cache_dir_path, "cache_dir_path")?,
            path_of(&x.replica_path, "replica_path")?,
        );
        if out.insert(SectorId::from(x.sector_id), info).is_some() {
            return Err(CallerError(format!("sector {} listed twice", x.sector_id)).into());
        }
    }
    Ok(out)
}

unsafe fn public_replicas(
    r: &SliceRef<PublicReplicaInfo>,
) -> anyhow::Result<BTreeMap<SectorId, ApiPublicReplica>> {
    let mut out = BTreeMap::new();
    for x in r.as_slice() {
        let info = ApiPublicReplica::new(post_proof(x.registered_proof)?, x.comm_r);
        if out.insert(SectorId::from(x.sector_id), info).is_some() {
            return Err(CallerError(format!("sector {} listed twice", x.sector_id)).into());
        }
    }
    Ok(out)
}

fn post_proofs_out(v: Vec<(ApiPoSt, Vec<u8>)>) -> SliceBox<PoStProof> {
    v.into_iter()
        .map(|(t, proof)| PoStProof { registered_proof: post_proof_code(t), proof: proof.into() })
        .collect::<Vec<_>>()
        .into()
}

/// A proof that fails to decode (e.g. a flipped byte leaves a point off the curve) is an
/// invalid proof, not a failed call. Errors that are the host's fault (parameters or
/// verifying keys missing or unreadable, I/O) stay errors; every other error from a verify
/// call is reported as `InvalidProof` with the library's reason, which the addon turns into
/// `{valid: false, reason}`.
fn verdict(name: &str, r: anyhow::Result<bool>) -> anyhow::Result<bool> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = format!("{e:#}");
            let lower = msg.to_lowercase();
            let host_fault = ["parameter", "verifying key", "no such file", "permission denied", "i/o", "cache"]
                .iter()
                .any(|k| lower.contains(k));
            if host_fault {
                Err(e)
            } else {
                Err(anyhow!(InvalidProof(format!("{INVALID_PROOF_MARKER}{name}: {msg}"))))
            }
        }
    }
}

/// Prefix of the error message of a verify call whose proof did not decode.
pub const INVALID_PROOF_MARKER: &str = "invalid proof (does not decode): ";

/// Marker for a proof that could not be decoded: the addon reports it as `{valid: false}`.
#[derive(Debug)]
pub struct InvalidProof(pub String);
impl std::fmt::Display for InvalidProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InvalidProof {}

// ---------------------------------------------------------------- pieces

#[no_mangle]
pub unsafe extern "C" fn write_with_alignment(
    registered_proof: i32,
    src_fd: i32,
    src_size: u64,
    dst_fd: i32,
    existing_piece_sizes: SliceRef<u64>,
) -> *mut WriteWithAlignmentResponse {
    respond("write_with_alignment", || {
        let proof = seal_proof(registered_proof)?;
        let existing: Vec<UnpaddedBytesAmount> =
            existing_piece_sizes.as_slice().iter().copied().map(UnpaddedBytesAmount).collect();
        let src = borrow_fd(src_fd, "src_fd")?;
        let dst = borrow_fd(dst_fd, "dst_fd")?;
        let n = UnpaddedBytesAmount(src_size);
        let (info, written) = seal::add_piece(proof, &*src, &*dst, n, &existing)?;
        Ok(WriteWithAlignment {
            comm_p: info.commitment,
            left_alignment_unpadded: u64::from(written) - src_size,
            total_write_unpadded: written.into(),
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn generate_piece_commitment(
    registered_proof: i32,
    piece_fd: i32,
    unpadded_piece_size: u64,
) -> *mut GeneratePieceCommitmentResponse {
    respond("generate_piece_commitment", || {
        let proof = seal_proof(registered_proof)?;
        let src = borrow_fd(piece_fd, "piece_fd")?;
        let info = seal::generate_piece_commitment(proof, &*src, UnpaddedBytesAmount(unpadded_piece_size))?;
        Ok(GeneratePieceCommitment { comm_p: info.commitment, num_bytes_aligned: info.size.into() })
    })
}

#[no_mangle]
pub unsafe extern "C" fn generate_data_commitment(
    registered_proof: i32,
    pieces_in: SliceRef<PublicPieceInfo>,
) -> *mut GenerateDataCommitmentResponse {
    respond("generate_data_commitment", || {
        let proof = seal_proof(registered_proof)?;
        Ok(seal::compute_comm_d(proof, &pieces(&pieces_in))?)
    })
}

// ---------------------------------------------------------------- sealing

#[no_mangle]
pub unsafe extern "C" fn seal_pre_commit_phase1(
    registered_proof: i32,
    cache_dir_path: SliceRef<u8>,
    staged_sector_path: SliceRef<u8>,
    sealed_sector_path: SliceRef<u8>,
    sector_id: u64,
    prover_id: &[u8; 32],
    ticket: &[u8; 32],
    pieces_in: SliceRef<PublicPieceInfo>,
) -> *mut SealPreCommitPhase1Response {
    respond("seal_pre_commit_phase1", || {
        let proof = seal_proof(registered_proof)?;
        let cache = cache_dir_path.as_path("cache_dir_path")?;
        let staged = staged_sector_path.as_path("staged_sector_path")?;
        let sealed = sealed_sector_path.as_path("sealed_sector_path")?;
        if !staged.is_file() {
            return Err(CallerError(format!("staged sector {} does not exist", staged.display())).into());
        }
        let out = seal::seal_pre_commit_phase1(
            proof,
            cache,
            staged,
            sealed,
            *prover_id,
            SectorId::from(sector_id),
            *ticket,
            &pieces(&pieces_in),
        )?;
        Ok(serde_json::to_vec(&out)?.into())
    })
}

#[no_mangle]
pub unsafe extern "C" fn seal_pre_commit_phase2(
    seal_pre_commit_phase1_output: SliceRef<u8>,
    cache_dir_path: SliceRef<u8>,
    sealed_sector_path: SliceRef<u8>,
) -> *mut SealPreCommitPhase2Response {
    respond("seal_pre_commit_phase2", || {
        let p1: SealPreCommitPhase1Output = serde_json::from_slice(seal_pre_commit_phase1_output.as_slice())
            .map_err(|e| CallerError(format!("pre-commit phase 1 output does not parse: {e}")))?;
        let out = seal::seal_pre_commit_phase2(
            p1,
            cache_dir_path.as_path("cache_dir_path")?,
            sealed_sector_path.as_path("sealed_sector_path")?,
        )?;
        Ok(SealPreCommitPhase2 {
            registered_proof: seal_proof_code(out.registered_proof),
            comm_d: out.comm_d,
            comm_r: out.comm_r,
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn seal_commit_phase1(
    registered_proof: i32,
    comm_r: &[u8; 32],
    comm_d: &[u8; 32],
    cache_dir_path: SliceRef<u8>,
    replica_path: SliceRef<u8>,
    sector_id: u64,
    prover_id: &[u8; 32],
    ticket: &[u8; 32],
    seed: &[u8; 32],
    pieces_in: SliceRef<PublicPieceInfo>,
) -> *mut SealCommitPhase1Response {
    respond("seal_commit_phase1", || {
        let pre = seal::SealPreCommitPhase2Output {
            registered_proof: seal_proof(registered_proof)?,
            comm_r: *comm_r,
            comm_d: *comm_d,
        };
        let out = seal::seal_commit_phase1(
            cache_dir_path.as_path("cache_dir_path")?,
            replica_path.as_path("replica_path")?,
            *prover_id,
            SectorId::from(sector_id),
            *ticket,
            *seed,
            pre,
            &pieces(&pieces_in),
        )?;
        Ok(serde_json::to_vec(&out)?.into())
    })
}

#[no_mangle]
pub unsafe extern "C" fn seal_commit_phase2(
    seal_commit_phase1_output: SliceRef<u8>,
    sector_id: u64,
    prover_id: &[u8; 32],
) -> *mut SealCommitPhase2Response {
    respond("seal_commit_phase2", || {
        let c1: SealCommitPhase1Output = serde_json::from_slice(seal_commit_phase1_output.as_slice())
            .map_err(|e| CallerError(format!("commit phase 1 output does not parse: {e}")))?;
        let out = seal::seal_commit_phase2(c1, *prover_id, SectorId::from(sector_id))?;
        Ok(out.proof.into())
    })
}

#[no_mangle]
pub unsafe extern "C" fn verify_seal(
    registered_proof: i32,
    comm_r: &[u8; 32],
    comm_d: &[u8; 32],
    prover_id: &[u8; 32],
    ticket: &[u8; 32],
    seed: &[u8; 32],
    sector_id: u64,
    proof: SliceRef<u8>,
) -> *mut VerifySealResponse {
    respond("verify_seal", || {
        let p = seal_proof(registered_proof)?;
        verdict(
            "verify_seal",
            seal::verify_seal(p, *comm_r, *comm_d, *prover_id, SectorId::from(sector_id), *ticket, *seed, proof.as_slice()),
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn clear_cache(sector_size: u64, cache_dir_path: SliceRef<u8>) -> *mut ClearCacheResponse {
    respond("clear_cache", || {
        let _ = sector_size; // kept for filcrypto.h compatibility; the library reads the cache's own config
        seal::clear_cache(&cache_dir_path.as_path("cache_dir_path")?)
    })
}

// ---------------------------------------------------------------- PoSt

#[no_mangle]
pub unsafe extern "C" fn generate_winning_post_sector_challenge(
    registered_proof: i32,
    randomness: &[u8; 32],
    sector_set_len: u64,
    prover_id: &[u8; 32],
) -> *mut GenerateWinningPoStSectorChallenge {
    respond("generate_winning_post_sector_challenge", || {
        let p = post_proof(registered_proof)?;
        Ok(post::generate_winning_post_sector_challenge(p, randomness, sector_set_len, *prover_id)?.into())
    })
}

#[no_mangle]
pub unsafe extern "C" fn generate_winning_post(
    randomness: &[u8; 32],
    replicas: SliceRef<PrivateReplicaInfo>,
    prover_id: &[u8; 32],
) -> *mut GenerateWinningPoStResponse {
    respond("generate_winning_post", || {
        let r = private_replicas(&replicas)?;
        Ok(post_proofs_out(post::generate_winning_post(randomness, &r, *prover_id)?))
    })
}

#[no_mangle]
pub unsafe extern "C" fn verify_winning_post(
    randomness: &[u8; 32],
    replicas: SliceRef<PublicReplicaInfo>,
    proofs: SliceRef<PoStProof>,
    prover_id: &[u8; 32],
) -> *mut VerifyWinningPoStResponse {
    respond("verify_winning_post", || {
        let r = public_replicas(&replicas)?;
        let proofs = proofs.as_slice();
        if proofs.len() != 1 {
            return Err(CallerError(format!("expected exactly one winning PoSt proof, got {}", proofs.len())).into());
        }
        let bytes = std::slice::from_raw_parts(proofs[0].proof.ptr, proofs[0].proof.len);
        verdict("verify_winning_post", post::verify_winning_post(randomness, bytes, &r, *prover_id))
    })
}

#[no_mangle]
pub unsafe extern "C" fn generate_fallback_sector_challenges(
    registered_proof: i32,
    randomness: &[u8; 32],
    sector_ids: SliceRef<u64>,
    prover_id: &[u8; 32],
) -> *mut GenerateFallbackSectorChallengesResponse {
    respond("generate_fallback_sector_challenges", || {
        let p = post_proof(registered_proof)?;
        let ids: Vec<SectorId> = sector_ids.as_slice().iter().copied().map(SectorId::from).collect();
        let out = post::generate_fallback_sector_challenges(p, randomness, &ids, *prover_id)?;
        let mut sids = Vec::with_capacity(out.len());
        let mut challenges = Vec::with_capacity(out.len());
        for (id, c) in out {
            sids.push(u64::from(id));
            challenges.push(SliceBox::from(c));
        }
        Ok(GenerateFallbackSectorChallenges { ids: sids.into(), challenges: challenges.into() })
    })
}

#[no_mangle]
pub unsafe extern "C" fn generate_window_post(
    randomness: &[u8; 32],
    replicas: SliceRef<PrivateReplicaInfo>,
    prover_id: &[u8; 32],
) -> *mut GenerateWindowPoStResponse {
    // Like filecoin-ffi: a faulty-sectors error is an error response whose value lists them.
    let mut faulty: Vec<u64> = Vec::new();
    let faulty_ref = &mut faulty;
    let resp = respond("generate_window_post", || {
        let r = private_replicas(&replicas)?;
        match post::generate_window_post(randomness, &r, *prover_id) {
            Ok(p) => Ok(GenerateWindowPoSt { proofs: post_proofs_out(p), faulty_sectors: SliceBox::default() }),
            Err(e) => {
                if let Some(StorageProofsError::FaultySectors(s)) = e.downcast_ref::<StorageProofsError>() {
                    *faulty_ref = s.iter().map(|x| u64::from(*x)).collect();
                }
                Err(e)
            }
        }
    });
    if !faulty.is_empty() {
        (*resp).value.faulty_sectors = faulty.into();
    }
    resp
}

#[no_mangle]
pub unsafe extern "C" fn verify_window_post(
    randomness: &[u8; 32],
    replicas: SliceRef<PublicReplicaInfo>,
    proofs: SliceRef<PoStProof>,
    prover_id: &[u8; 32],
) -> *mut VerifyWindowPoStResponse {
    respond("verify_window_post", || {
        let r = public_replicas(&replicas)?;
        let mut list: Vec<(ApiPoSt, &[u8])> = Vec::new();
        for p in proofs.as_slice() {
            list.push((post_proof(p.registered_proof)?, std::slice::from_raw_parts(p.proof.ptr, p.proof.len)));
        }
        verdict("verify_window_post", post::verify_window_post(randomness, &list, &r, *prover_id))
    })
}

#[no_mangle]
pub unsafe extern "C" fn get_num_partition_for_fallback_post(
    registered_proof: i32,
    num_sectors: usize,
) -> *mut GetNumPartitionForFallbackPoStResponse {
    respond("get_num_partition_for_fallback_post", || {
        Ok(post::get_num_partition_for_fallback_post(post_proof(registered_proof)?, num_sectors)?)
    })
}

// ---------------------------------------------------------------- distminer extensions

/// Where the proofs library looks for a seal proof type's parameter and verifying-key files
/// (`$FIL_PROOFS_PARAMETER_CACHE/v28-<circuit id>.params|.vk`).
#[no_mangle]
pub unsafe extern "C" fn distminer_seal_param_files(registered_proof: i32) -> *mut DistminerParamFilesResponse {
    respond("distminer_seal_param_files", || {
        let p = seal_proof(registered_proof)?;
        param_files(p.cache_params_path()?, p.cache_verifying_key_path()?)
    })
}

#[no_mangle]
pub unsafe extern "C" fn distminer_post_param_files(registered_proof: i32) -> *mut DistminerParamFilesResponse {
    respond("distminer_post_param_files", || {
        let p = post_proof(registered_proof)?;
        param_files(p.cache_params_path()?, p.cache_verifying_key_path()?)
    })
}

fn param_files(params: std::path::PathBuf, vk: std::path::PathBuf) -> anyhow::Result<DistminerParamFiles> {
    let s = |p: std::path::PathBuf| -> anyhow::Result<SliceBox<u8>> {
        Ok(p.into_os_string().into_string().map_err(|_| anyhow!("non UTF-8 path"))?.into_bytes().into())
    };
    Ok(DistminerParamFiles { params_path: s(params)?, vk_path: s(vk)? })
}

/// Panics inside the same wrapper every proof call uses: lets tests show that a panic in
/// native code surfaces as an error to JavaScript instead of aborting the process.
#[no_mangle]
pub unsafe extern "C" fn distminer_debug_panic(message: SliceRef<u8>) -> *mut ClearCacheResponse {
    respond("distminer_debug_panic", || {
        let m = String::from_utf8_lossy(message.as_slice()).into_owned();
        panic!("{}", m)
    })
}

// ---------------------------------------------------------------- destroy functions

macro_rules! destroy_fns {
    ($($name:ident: $t:ty),* $(,)?) => {
        $(
            #[no_mangle]
            pub unsafe extern "C" fn $name(ptr: *mut $t) {
                destroy(ptr)
            }
        )*
    };
}

destroy_fns! {
    destroy_write_with_alignment_response: WriteWithAlignmentResponse,
    destroy_generate_piece_commitment_response: GeneratePieceCommitmentResponse,
    destroy_generate_data_commitment_response: GenerateDataCommitmentResponse,
    destroy_seal_pre_commit_phase1_response: SealPreCommitPhase1Response,
    destroy_seal_pre_commit_phase2_response: SealPreCommitPhase2Response,
    destroy_seal_commit_phase1_response: SealCommitPhase1Response,
    destroy_seal_commit_phase2_response: SealCommitPhase2Response,
    destroy_verify_seal_response: VerifySealResponse,
    destroy_generate_winning_post_sector_challenge: GenerateWinningPoStSectorChallenge,
    destroy_generate_fallback_sector_challenges_response: GenerateFallbackSectorChallengesResponse,
    destroy_generate_winning_post_response: GenerateWinningPoStResponse,
    destroy_verify_winning_post_response: VerifyWinningPoStResponse,
    destroy_generate_window_post_response: GenerateWindowPoStResponse,
    destroy_verify_window_post_response: VerifyWindowPoStResponse,
    destroy_get_num_partition_for_fallback_post_response: GetNumPartitionForFallbackPoStResponse,
    destroy_clear_cache_response: ClearCacheResponse,
    destroy_distminer_param_files_response: DistminerParamFilesResponse,
}
