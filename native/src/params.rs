//! Deterministic Groth16 parameters for 2KiB sectors.
//!
//! Nothing can be downloaded on our build hosts, so we make our own parameters: each circuit's
//! random values come from a ChaCha20 RNG seeded from a fixed string and the circuit's id,
//! so every host of a devnet derives byte-identical files. The toxic waste is therefore
//! public: these keys are for devnets and tests, never for mainnet or calibnet.
//!
//! The proofs library writes its cache files in place; a half-written `.params` file would
//! later be read as corrupt and never regenerated. So we generate into a staging directory
//! (set as `FIL_PROOFS_PARAMETER_CACHE` for this process only), fsync every file, and only
//! then rename them into the real cache directory (`.meta`, `.vk`, `.params` last) and fsync
//! that directory.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use filecoin_proofs::constants::DefaultPieceHasher;
use filecoin_proofs::parameters::{public_params, window_post_public_params, winning_post_public_params};
use filecoin_proofs::{with_shape, MerkleTreeTrait, PoRepConfig, PoStConfig};
use filecoin_proofs_api::{RegisteredPoStProof, RegisteredSealProof};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use storage_proofs_core::compound_proof::CompoundProof;
use storage_proofs_core::parameter_cache::CacheableParameters;
use storage_proofs_porep::stacked::{StackedCompound, StackedDrg};
use storage_proofs_post::fallback::{FallbackPoSt, FallbackPoStCircuit, FallbackPoStCompound};

/// Bump only together with a new digest manifest: it changes every generated key.
pub const SEED_DOMAIN: &str = "distminer devnet groth16 parameters v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Circuit {
    Porep,
    Winning,
    Window,
}

impl Circuit {
    pub fn all() -> [Circuit; 3] {
        // Smallest first, so a broken setup fails in seconds rather than after ten minutes.
        [Circuit::Window, Circuit::Winning, Circuit::Porep]
    }

    pub fn name(self) -> &'static str {
        match self {
            Circuit::Porep => "porep",
            Circuit::Winning => "winning-post",
            Circuit::Window => "window-post",
        }
    }

    pub fn parse(s: &str) -> Result<Circuit> {
        Ok(match s {
            "porep" => Circuit::Porep,
            "winning-post" | "winning" => Circuit::Winning,
            "window-post" | "window" => Circuit::Window,
            _ => bail!("unknown circuit {s:?} (porep, winning-post, window-post)"),
        })
    }

    /// Cache file names (without directory) as the proofs library will look them up.
    pub fn files(self) -> Result<(String, String, String)> {
        let (params, vk) = match self {
            Circuit::Porep => {
                let p = RegisteredSealProof::StackedDrg2KiBV1_1;
                (p.cache_params_path()?, p.cache_verifying_key_path()?)
            }
            Circuit::Winning => {
                let p = RegisteredPoStProof::StackedDrgWinning2KiBV1;
                (p.cache_params_path()?, p.cache_verifying_key_path()?)
            }
            Circuit::Window => {
                let p = RegisteredPoStProof::StackedDrgWindow2KiBV1_2;
                (p.cache_params_path()?, p.cache_verifying_key_path()?)
            }
        };
        let name = |p: PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        let params = name(params);
        let meta = params.trim_end_matches(".params").to_string() + ".meta";
        Ok((params, name(vk), meta))
    }

    fn rng(self) -> ChaCha20Rng {
        let mut h = Sha256::new();
        h.update(SEED_DOMAIN.as_bytes());
        h.update(b"/");
        h.update(self.name().as_bytes());
        ChaCha20Rng::from_seed(h.finalize().into())
    }
}

fn gen_porep<Tree: 'static + MerkleTreeTrait>(config: &PoRepConfig, rng: &mut ChaCha20Rng) -> Result<()> {
    let pp = public_params::<Tree>(config)?;
    type C<T> = StackedCompound<T, DefaultPieceHasher>;
    let circuit = || <C<Tree> as CompoundProof<StackedDrg<'_, Tree, DefaultPieceHasher>, _>>::blank_circuit(&pp);
    C::<Tree>::get_param_metadata(circuit(), &pp)?;
    C::<Tree>::get_groth_params(Some(&mut *rng), circuit(), &pp)?;
    C::<Tree>::get_verifying_key(Some(&mut *rng), circuit(), &pp)?;
    Ok(())
}

fn gen_post<Tree: 'static + MerkleTreeTrait>(
    config: &PoStConfig,
    winning: bool,
    rng: &mut ChaCha20Rng,
) -> Result<()> {
    let pp = if winning {
        winning_post_public_params::<Tree>(config)?
    } else {
        window_post_public_params::<Tree>(config)?
    };
    type C<T> = FallbackPoStCompound<T>;
    let circuit = || <C<Tree> as CompoundProof<FallbackPoSt<'_, Tree>, FallbackPoStCircuit<Tree>>>::blank_circuit(&pp);
    C::<Tree>::get_param_metadata(circuit(), &pp)?;
    C::<Tree>::get_groth_params(Some(&mut *rng), circuit(), &pp)?;
    C::<Tree>::get_verifying_key(Some(&mut *rng), circuit(), &pp)?;
    Ok(())
}

/// Generates one circuit's files in the current process's parameter cache directory
/// (which the caller has pointed at a staging directory).
pub fn generate_in_place(c: Circuit) -> Result<()> {
    let mut rng = c.rng();
    match c {
        Circuit::Porep => {
            let config = RegisteredSealProof::StackedDrg2KiBV1_1.as_v1_config();
            let size = u64::from(config.sector_size);
            with_shape!(size, gen_porep, &config, &mut rng,)
        }
        Circuit::Winning => {
            let config = RegisteredPoStProof::StackedDrgWinning2KiBV1.as_v1_config();
            let size = u64::from(config.sector_size);
            with_shape!(size, gen_post, &config, true, &mut rng,)
        }
        Circuit::Window => {
            let config = RegisteredPoStProof::StackedDrgWindow2KiBV1_2.as_v1_config();
            let size = u64::from(config.sector_size);
            with_shape!(size, gen_post, &config, false, &mut rng,)
        }
    }
}

pub fn sha256_file(p: &Path) -> Result<String> {
    let mut f = File::open(p).with_context(|| format!("open {}", p.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn fsync_file(p: &Path) -> Result<()> {
    OpenOptions::new().read(true).open(p)?.sync_all().with_context(|| format!("fsync {}", p.display()))
}

fn fsync_dir(p: &Path) -> Result<()> {
    File::open(p)?.sync_all().with_context(|| format!("fsync dir {}", p.display()))
}

/// Moves the staged files of `c` into `dest`, crash-safely. Returns their sha256 digests.
pub fn install(c: Circuit, staging: &Path, dest: &Path) -> Result<Vec<(String, String)>> {
    let (params, vk, meta) = c.files()?;
    let mut digests = Vec::new();
    for name in [&meta, &vk, &params] {
        let from = staging.join(name);
        if !from.is_file() {
            bail!("generator did not produce {}", from.display());
        }
        fsync_file(&from)?;
        digests.push((name.clone(), sha256_file(&from)?));
    }
    fs::create_dir_all(dest)?;
    for name in [&meta, &vk, &params] {
        fs::rename(staging.join(name), dest.join(name))
            .with_context(|| format!("rename {} into {}", name, dest.display()))?;
    }
    fsync_dir(dest)?;
    Ok(digests)
}

/// True when all three files of `c` are in `dir`.
pub fn present(c: Circuit, dir: &Path) -> Result<bool> {
    let (params, vk, meta) = c.files()?;
    Ok([params, vk, meta].iter().all(|n| dir.join(n).is_file()))
}

pub fn log_line(msg: &str) {
    let mut e = std::io::stderr();
    let _ = writeln!(e, "{msg}");
}

pub fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let r = f();
    log_line(&format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
    r
}
