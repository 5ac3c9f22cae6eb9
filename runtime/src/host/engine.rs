//! The one wasmtime `Engine`: epoch interruption with a 10 ms ticker, and a pooling allocator
//! sized for guests built from Python or JavaScript, which have dozens of core instances.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of every call deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances alive at once across all connectors; instantiation waits for a slot beyond this.
pub(crate) const MAX_LIVE_INSTANCES: usize = 256;

/// Warm instances kept idle at once across all connectors (each connector keeps a few; past
/// this total an instance ending its call is dropped instead of kept).
pub(crate) const MAX_IDLE_INSTANCES: usize = 64;

/// The largest memory any connector instance may be granted.
pub(crate) const MAX_MEMORY_BYTES: u64 = 512 << 20;

/// Stops a store's wasm at `deadline`, and until then makes it yield to the async runtime at
/// every epoch tick: a guest that computes (or spins) shares the tokio workers with the
/// server, intake and the store instead of holding one until its deadline.
pub(crate) fn arm_deadline<T: 'static>(store: &mut wasmtime::Store<T>, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if std::time::Instant::now() >= deadline {
            Ok(wasmtime::UpdateDeadline::Interrupt)
        } else {
            Ok(wasmtime::UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
}

pub(crate) fn new_engine() -> wasmtime::Result<Engine> {
    // Slots for every instance in a call plus every idle warm one, so keeping instances warm
    // never makes a fresh instantiation fail for want of a slot. A store keeps the fiber stack
    // of its last call (wasmtime's `last_fiber_stack`), so idle instances hold stacks too.
    let instances = (MAX_LIVE_INSTANCES + MAX_IDLE_INSTANCES) as u32;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances * 4)
        .max_core_instances_per_component(200)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .total_memories(instances * 2)
        .total_tables(instances * 8)
        .total_stacks(instances)
        .max_memory_size(MAX_MEMORY_BYTES as usize)
        .max_unused_warm_slots(32);
    let engine = match Engine::new(
        &base_config().allocation_strategy(InstanceAllocationStrategy::Pooling(pool)),
    ) {
        Ok(engine) => engine,
        Err(e) => {
            // A machine that will not reserve the pool's address space (a tight `ulimit -v`)
            // still runs connectors, one allocation at a time.
            tracing::warn!(error = %e, "pooling allocator unavailable; allocating instances on demand");
            Engine::new(&base_config())?
        }
    };
    start_ticker(&engine);
    Ok(engine)
}

fn base_config() -> Config {
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .wasm_component_model(true)
        .cranelift_opt_level(OptLevel::Speed);
    config
}

/// Advances the epoch every tick for as long as the engine lives.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("junction-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}
