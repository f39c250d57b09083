// Calibration aid for llmgen fit (docs/fit.md): load a GGUF and create a context the way
// llama-server b11434 does for --ctx-size C --parallel P (defaults otherwise), decode one prompt
// of N tokens, print VmHWM. Build against a llama.cpp b11434 build tree:
//   g++ -O1 -std=c++17 benchmarks/llama_harness.cpp -I$SRC/include -I$SRC/ggml/include \
//       $BUILD/src/libllama.a $BUILD/ggml/src/libggml.a $BUILD/ggml/src/libggml-cpu.a \
//       $BUILD/ggml/src/libggml-base.a -fopenmp -lpthread -o llama_harness
//   ./llama_harness MODEL.gguf CTX PARALLEL PROMPT_TOKENS
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

static long vm_hwm_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return atol(line.c_str() + 6);
    }
    return -1;
}

int main(int argc, char ** argv) {
    if (argc < 5) { fprintf(stderr, "usage: harness MODEL CTX PARALLEL PROMPT\n"); return 2; }
    llama_backend_init();
    auto mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) return 1;
    auto cp = llama_context_default_params();
    cp.n_ctx = atoi(argv[2]);
    cp.n_seq_max = atoi(argv[3]);
    cp.n_batch = 2048;
    cp.n_ubatch = 512;
    cp.n_threads = 2; cp.n_threads_batch = 2;
    cp.kv_unified = false;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    fprintf(stderr, "HWM_AFTER_INIT %ld\n", vm_hwm_kib());
    int n = atoi(argv[4]);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    int nv = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> toks(n);
    for (int i = 0; i < n; i++) toks[i] = 300 + (i * 7) % (nv - 300);
    llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = toks[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0;
        batch.logits[i] = (i == n - 1);
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    fprintf(stderr, "HWM_AFTER_DECODE %ld\n", vm_hwm_kib());
    return 0;
}
