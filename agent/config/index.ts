/**
 * The face of agent/config. Everything else imports from here, never from the files inside.
 * Pure: parseConfigText, validateConfig (tests, `config check` of a value). I/O: loadConfig, resolveSecrets.
 */
export {
  CONFIG_FILE_ENV,
  DEFAULT_CONFIG_FILE,
  PATH_ENV_OVERRIDES,
  SECRET_KEYS,
  configJsonSchema,
  configSchema,
  type CameraConfig,
  type Config,
  type ConfigInput,
  type MqttConfig,
  type ValidatedConfig,
} from './schema.ts';
export { ConfigError, formatPath, type ConfigIssue } from './errors.ts';
export { loadConfig, parseConfigText, resolveSecrets, validateConfig, type Env, type SecretSources } from './load.ts';
export { runConfigCheck } from './check-command.ts';
