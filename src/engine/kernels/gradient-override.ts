// One kernel's gradient replaced by bench's own, reversibly: the pattern of conv2d-gradients.ts and
// batch-norm-gradient.ts (the gradient registry is global and shared by every backend).
import { tf } from '../tf.js';

export interface GradientOverride {
  /** Puts `config` in the registry, keeping the gradient it replaces (idempotent). */
  register(): void;
  /** Puts the replaced gradient back, or none if there was none (idempotent). */
  unregister(): void;
  /** True while `config` is the kernel's registered gradient. */
  registered(): boolean;
  /** The gradient `config` replaced (for the cases it hands back), or null before register(). */
  original(): tf.GradConfig | null;
}

/** The register/unregister pair of a replacement gradient `config` for the kernel `config.kernelName`. */
export function gradientOverride(config: tf.GradConfig): GradientOverride {
  let original: tf.GradConfig | null = null;
  const registered = () => tf.getGradient(config.kernelName) === config;
  return {
    register() {
      if (registered()) return;
      original = tf.getGradient(config.kernelName) ?? null;
      tf.registerGradient(config);
    },
    unregister() {
      if (!registered()) return;
      if (original !== null) tf.registerGradient(original);
      else tf.unregisterGradient(config.kernelName);
    },
    registered,
    original: () => original,
  };
}
