// GET /fhir/.well-known/smart-configuration — SMART discovery for backend services
// (https://hl7.org/fhir/smart-app-launch/conformance.html).
import { ASSERTION_ALGORITHMS } from './client-authentication.ts';

export function smartConfiguration(baseUrl: string) {
  return {
    issuer: `${baseUrl}/auth`,
    jwks_uri: `${baseUrl}/auth/jwks.json`,
    token_endpoint: `${baseUrl}/auth/token`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    scopes_supported: ['system/*.read', 'system/*.write', 'system/*.*', 'system/*.cruds', 'system/*.rs', 'admin'],
    response_types_supported: ['token'],
    capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric', 'permission-v1', 'permission-v2'],
  };
}
