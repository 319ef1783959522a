// Lets tch 0.26's C wrappers (torch-sys 0.26, generated from torch 2.13's operator list) compile
// against torch 2.11's headers. Forced into every C++ file of the build by scripts/env.sh
// (`CXXFLAGS=-include <this file>`) when LRPO_TORCH_VERSION=2.11.0; see docs/gpu.md.
//
// 2.11 lacks 13 of the operators the wrappers call, and one has gained an argument since. Each
// gets a stand-in here that throws, as a failed libtorch call does (tch returns it as an Err),
// naming the operator: lrpo calls none of them (Philox RNG keys, Lanczos upsampling, an in-place
// flash-attention variant and an MPS-only attention kernel). The stand-ins live in namespace
// torch, where the wrappers look them up; a name declared there hides at::'s, which is what
// makes the attention kernel's 2.13 call, with its extra argument, compile.
//
// A C++ file of another crate without torch's headers on its include path is left alone.
#pragma once
#if defined(__cplusplus) && __has_include(<torch/torch.h>)
#include <torch/torch.h>

#include <tuple>

#define LRPO_MISSING_IN_TORCH_2_11(name)                                                      \
    template <typename... Args>                                                               \
    at::Tensor name(Args&&...) {                                                              \
        TORCH_CHECK(false, #name " is not in libtorch 2.11 (lrpo built tch 0.26 against it)"); \
    }

namespace torch {
LRPO_MISSING_IN_TORCH_2_11(_flash_attention_forward_no_dropout_inplace)
LRPO_MISSING_IN_TORCH_2_11(_philox_key_fold_in)
LRPO_MISSING_IN_TORCH_2_11(_philox_key_split)
LRPO_MISSING_IN_TORCH_2_11(_philox_normal)
LRPO_MISSING_IN_TORCH_2_11(_philox_normal_)
LRPO_MISSING_IN_TORCH_2_11(_philox_normal_out)
LRPO_MISSING_IN_TORCH_2_11(_philox_uniform)
LRPO_MISSING_IN_TORCH_2_11(_philox_uniform_)
LRPO_MISSING_IN_TORCH_2_11(_philox_uniform_out)
LRPO_MISSING_IN_TORCH_2_11(_upsample_lanczos2d_aa)
LRPO_MISSING_IN_TORCH_2_11(_upsample_lanczos2d_aa_out)
LRPO_MISSING_IN_TORCH_2_11(_upsample_lanczos2d_aa_backward)
LRPO_MISSING_IN_TORCH_2_11(_upsample_lanczos2d_aa_backward_out)

// In 2.11 with one argument fewer than the 2.13 call passes; MPS only.
template <typename... Args>
std::tuple<at::Tensor, at::Tensor> _scaled_dot_product_attention_math_for_mps(Args&&...) {
    TORCH_CHECK(false, "_scaled_dot_product_attention_math_for_mps: 2.13's signature is not in libtorch 2.11");
}
}  // namespace torch

#undef LRPO_MISSING_IN_TORCH_2_11
#endif
