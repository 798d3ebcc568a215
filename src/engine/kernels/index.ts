export { conv2dTransposeSame, conv2dTransposeStrided } from './conv2d-transpose.js';
export {
  registerFastConvGradients,
  unregisterFastConvGradients,
  fastConvGradientsRegistered,
  conv2dInputGradient,
  conv2dFilterGradient,
} from './conv2d-gradients.js';
export type { SidePadding } from './conv-geometry.js';
export { registerSharedIdentity, unregisterSharedIdentity, sharedIdentityRegistered } from './shared-identity.js';
export { registerWasmConvBackpropKernels, unregisterWasmConvBackpropKernels } from './conv-backprop-kernels.js';
export {
  registerCpuFallbacks,
  cpuFallbackKernels,
  cpuFallbacksRun,
  resetCpuFallbacksRun,
  setCpuFallbackWarning,
  runOnCpu,
  NO_FALLBACK,
} from './cpu-fallback.js';
export { registerConstantKernels, releaseConstantKernels, cachedAdjointKernel } from './constant-kernels.js';
export { prepareSubPixelKernels } from './sub-pixel.js';
export { registerWinogradConv, unregisterWinogradConv, releaseWinogradFilters, winogradCalls, winogradApplies, setWinogradMinChannels, setWinogradMinChannelsFor, setWinogradTileSize, WINOGRAD_MIN_CHANNELS } from './winograd.js';
export { setConvChannelChunk, convChannelChunk, releaseConvChannelSlices, TORCH_MATCHED_CONV_CHUNK } from './chunked-conv.js';
export { registerBatchNormGradient, unregisterBatchNormGradient, batchNormGradientRegistered } from './batch-norm-gradient.js';
export { registerFusedConvGradient, unregisterFusedConvGradient, fusedConvGradientRegistered } from './fused-conv-gradient.js';
