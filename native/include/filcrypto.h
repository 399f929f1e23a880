/*
 * The subset of filecoin-ffi's filcrypto.h that distminer uses, with the same function
 * names, argument order and struct layouts (safer_ffi style: slices passed by value as
 * {ptr, len}, 32-byte arrays by pointer, every call returning a heap response
 * {status_code, error_msg, value} freed by its destroy_* function).
 *
 * It is implemented by native/ (Rust, on filecoin-proofs-api), and the addon can instead be
 * linked against a user's own libfilcrypto.a (e.g. a CUDA build): see README "Bring your own
 * filcrypto". Functions prefixed distminer_ exist only in our crate; the addon falls back to
 * computing their answers itself when linked against filcrypto.
 */
#ifndef DISTMINER_FILCRYPTO_H
#define DISTMINER_FILCRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum FCPResponseStatus {
  F_C_P_RESPONSE_STATUS_NO_ERROR = 0,
  F_C_P_RESPONSE_STATUS_UNCLASSIFIED_ERROR = 1,
  F_C_P_RESPONSE_STATUS_CALLER_ERROR = 2,
  F_C_P_RESPONSE_STATUS_RECEIVER_ERROR = 3,
} FCPResponseStatus_t;

/* int32 enums, numbered as in filecoin-ffi / go-state-types abi. */
typedef int32_t RegisteredSealProof_t;
typedef int32_t RegisteredPoStProof_t;

typedef struct { const uint8_t *ptr; size_t len; } slice_ref_uint8_t;
typedef struct { const uint64_t *ptr; size_t len; } slice_ref_uint64_t;
typedef struct { uint8_t *ptr; size_t len; } slice_boxed_uint8_t;
typedef struct { uint64_t *ptr; size_t len; } slice_boxed_uint64_t;
typedef struct { slice_boxed_uint64_t *ptr; size_t len; } slice_boxed_slice_boxed_uint64_t;

typedef struct { uint8_t idx[32]; } uint8_32_array_t;

typedef struct PublicPieceInfo {
  uint64_t num_bytes;
  uint8_t comm_p[32];
} PublicPieceInfo_t;
typedef struct { const PublicPieceInfo_t *ptr; size_t len; } slice_ref_PublicPieceInfo_t;

typedef struct PrivateReplicaInfo {
  RegisteredPoStProof_t registered_proof;
  slice_boxed_uint8_t cache_dir_path;
  uint8_t comm_r[32];
  slice_boxed_uint8_t replica_path;
  uint64_t sector_id;
} PrivateReplicaInfo_t;
typedef struct { const PrivateReplicaInfo_t *ptr; size_t len; } slice_ref_PrivateReplicaInfo_t;

typedef struct PublicReplicaInfo {
  RegisteredPoStProof_t registered_proof;
  uint8_t comm_r[32];
  uint64_t sector_id;
} PublicReplicaInfo_t;
typedef struct { const PublicReplicaInfo_t *ptr; size_t len; } slice_ref_PublicReplicaInfo_t;

typedef struct PoStProof {
  RegisteredPoStProof_t registered_proof;
  slice_boxed_uint8_t proof;
} PoStProof_t;
typedef struct { const PoStProof_t *ptr; size_t len; } slice_ref_PoStProof_t;
typedef struct { PoStProof_t *ptr; size_t len; } slice_boxed_PoStProof_t;

#define FIL_RESPONSE(name, value_t) \
  typedef struct name { int32_t status_code; slice_boxed_uint8_t error_msg; value_t value; } name##_t;

typedef struct WriteWithAlignment {
  uint8_t comm_p[32];
  uint64_t left_alignment_unpadded;
  uint64_t total_write_unpadded;
} WriteWithAlignment_t;
FIL_RESPONSE(WriteWithAlignmentResponse, WriteWithAlignment_t)

typedef struct GeneratePieceCommitment {
  uint8_t comm_p[32];
  uint64_t num_bytes_aligned;
} GeneratePieceCommitment_t;
FIL_RESPONSE(GeneratePieceCommitmentResponse, GeneratePieceCommitment_t)
FIL_RESPONSE(GenerateDataCommitmentResponse, uint8_32_array_t)

FIL_RESPONSE(SealPreCommitPhase1Response, slice_boxed_uint8_t)
typedef struct SealPreCommitPhase2 {
  RegisteredSealProof_t registered_proof;
  uint8_t comm_d[32];
  uint8_t comm_r[32];
} SealPreCommitPhase2_t;
FIL_RESPONSE(SealPreCommitPhase2Response, SealPreCommitPhase2_t)
FIL_RESPONSE(SealCommitPhase1Response, slice_boxed_uint8_t)
FIL_RESPONSE(SealCommitPhase2Response, slice_boxed_uint8_t)
FIL_RESPONSE(VerifySealResponse, bool)

FIL_RESPONSE(GenerateWinningPoStSectorChallenge, slice_boxed_uint64_t)
typedef struct GenerateFallbackSectorChallenges {
  slice_boxed_uint64_t ids;
  slice_boxed_slice_boxed_uint64_t challenges;
} GenerateFallbackSectorChallenges_t;
FIL_RESPONSE(GenerateFallbackSectorChallengesResponse, GenerateFallbackSectorChallenges_t)
FIL_RESPONSE(GenerateWinningPoStResponse, slice_boxed_PoStProof_t)
FIL_RESPONSE(VerifyWinningPoStResponse, bool)
typedef struct GenerateWindowPoSt {
  slice_boxed_PoStProof_t proofs;
  slice_boxed_uint64_t faulty_sectors;
} GenerateWindowPoSt_t;
FIL_RESPONSE(GenerateWindowPoStResponse, GenerateWindowPoSt_t)
FIL_RESPONSE(VerifyWindowPoStResponse, bool)
FIL_RESPONSE(GetNumPartitionForFallbackPoStResponse, size_t)

typedef struct ClearCacheResponse { int32_t status_code; slice_boxed_uint8_t error_msg; } ClearCacheResponse_t;

typedef struct DistminerParamFiles {
  slice_boxed_uint8_t params_path;
  slice_boxed_uint8_t vk_path;
} DistminerParamFiles_t;
FIL_RESPONSE(DistminerParamFilesResponse, DistminerParamFiles_t)

WriteWithAlignmentResponse_t *write_with_alignment(RegisteredSealProof_t registered_proof, int32_t src_fd, uint64_t src_size, int32_t dst_fd, slice_ref_uint64_t existing_piece_sizes);
GeneratePieceCommitmentResponse_t *generate_piece_commitment(RegisteredSealProof_t registered_proof, int32_t piece_fd, uint64_t unpadded_piece_size);
GenerateDataCommitmentResponse_t *generate_data_commitment(RegisteredSealProof_t registered_proof, slice_ref_PublicPieceInfo_t pieces);

SealPreCommitPhase1Response_t *seal_pre_commit_phase1(RegisteredSealProof_t registered_proof, slice_ref_uint8_t cache_dir_path, slice_ref_uint8_t staged_sector_path, slice_ref_uint8_t sealed_sector_path, uint64_t sector_id, const uint8_t (*prover_id)[32], const uint8_t (*ticket)[32], slice_ref_PublicPieceInfo_t pieces);
SealPreCommitPhase2Response_t *seal_pre_commit_phase2(slice_ref_uint8_t seal_pre_commit_phase1_output, slice_ref_uint8_t cache_dir_path, slice_ref_uint8_t sealed_sector_path);
SealCommitPhase1Response_t *seal_commit_phase1(RegisteredSealProof_t registered_proof, const uint8_t (*comm_r)[32], const uint8_t (*comm_d)[32], slice_ref_uint8_t cache_dir_path, slice_ref_uint8_t replica_path, uint64_t sector_id, const uint8_t (*prover_id)[32], const uint8_t (*ticket)[32], const uint8_t (*seed)[32], slice_ref_PublicPieceInfo_t pieces);
SealCommitPhase2Response_t *seal_commit_phase2(slice_ref_uint8_t seal_commit_phase1_output, uint64_t sector_id, const uint8_t (*prover_id)[32]);
VerifySealResponse_t *verify_seal(RegisteredSealProof_t registered_proof, const uint8_t (*comm_r)[32], const uint8_t (*comm_d)[32], const uint8_t (*prover_id)[32], const uint8_t (*ticket)[32], const uint8_t (*seed)[32], uint64_t sector_id, slice_ref_uint8_t proof);
ClearCacheResponse_t *clear_cache(uint64_t sector_size, slice_ref_uint8_t cache_dir_path);

GenerateWinningPoStSectorChallenge_t *generate_winning_post_sector_challenge(RegisteredPoStProof_t registered_proof, const uint8_t (*randomness)[32], uint64_t sector_set_len, const uint8_t (*prover_id)[32]);
GenerateWinningPoStResponse_t *generate_winning_post(const uint8_t (*randomness)[32], slice_ref_PrivateReplicaInfo_t replicas, const uint8_t (*prover_id)[32]);
VerifyWinningPoStResponse_t *verify_winning_post(const uint8_t (*randomness)[32], slice_ref_PublicReplicaInfo_t replicas, slice_ref_PoStProof_t proofs, const uint8_t (*prover_id)[32]);
GenerateFallbackSectorChallengesResponse_t *generate_fallback_sector_challenges(RegisteredPoStProof_t registered_proof, const uint8_t (*randomness)[32], slice_ref_uint64_t sector_ids, const uint8_t (*prover_id)[32]);
GenerateWindowPoStResponse_t *generate_window_post(const uint8_t (*randomness)[32], slice_ref_PrivateReplicaInfo_t replicas, const uint8_t (*prover_id)[32]);
VerifyWindowPoStResponse_t *verify_window_post(const uint8_t (*randomness)[32], slice_ref_PublicReplicaInfo_t replicas, slice_ref_PoStProof_t proofs, const uint8_t (*prover_id)[32]);
GetNumPartitionForFallbackPoStResponse_t *get_num_partition_for_fallback_post(RegisteredPoStProof_t registered_proof, size_t num_sectors);

void destroy_write_with_alignment_response(WriteWithAlignmentResponse_t *ptr);
void destroy_generate_piece_commitment_response(GeneratePieceCommitmentResponse_t *ptr);
void destroy_generate_data_commitment_response(GenerateDataCommitmentResponse_t *ptr);
void destroy_seal_pre_commit_phase1_response(SealPreCommitPhase1Response_t *ptr);
void destroy_seal_pre_commit_phase2_response(SealPreCommitPhase2Response_t *ptr);
void destroy_seal_commit_phase1_response(SealCommitPhase1Response_t *ptr);
void destroy_seal_commit_phase2_response(SealCommitPhase2Response_t *ptr);
void destroy_verify_seal_response(VerifySealResponse_t *ptr);
void destroy_clear_cache_response(ClearCacheResponse_t *ptr);
void destroy_generate_winning_post_sector_challenge(GenerateWinningPoStSectorChallenge_t *ptr);
void destroy_generate_winning_post_response(GenerateWinningPoStResponse_t *ptr);
void destroy_verify_winning_post_response(VerifyWinningPoStResponse_t *ptr);
void destroy_generate_fallback_sector_challenges_response(GenerateFallbackSectorChallengesResponse_t *ptr);
void destroy_generate_window_post_response(GenerateWindowPoStResponse_t *ptr);
void destroy_verify_window_post_response(VerifyWindowPoStResponse_t *ptr);
void destroy_get_num_partition_for_fallback_post_response(GetNumPartitionForFallbackPoStResponse_t *ptr);

/* distminer extensions (not in filecoin-ffi) */
DistminerParamFilesResponse_t *distminer_seal_param_files(RegisteredSealProof_t registered_proof);
DistminerParamFilesResponse_t *distminer_post_param_files(RegisteredPoStProof_t registered_proof);
ClearCacheResponse_t *distminer_debug_panic(slice_ref_uint8_t message);
void destroy_distminer_param_files_response(DistminerParamFilesResponse_t *ptr);

#ifdef __cplusplus
}
#endif

#endif
