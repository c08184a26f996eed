import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './temp.js'

/** A PEM file: its text, and where it is on disk (for `${file:PATH}` in a steps file). */
export interface Pem {
  readonly pem: string
  readonly path: string
}

export interface KeyPair {
  readonly cert: Pem
  readonly key: Pem
}

/**
 * A private PKI for TLS tests, made fresh by each call: nothing is shared
 * between runs, and nothing outside the run's temporary folder is trusted.
 */
export interface TestCerts {
  /** The folder holding every file below. */
  readonly dir: string
  /** The CA that signs the server certificates; no system trust store knows it. */
  readonly ca: Pem
  /** SANs DNS:localhost, IP:127.0.0.1, DNS:payments.internal. */
  readonly server: KeyPair
  /** SAN DNS:other.internal only: reachable at 127.0.0.1 only through `servername`. */
  readonly otherServer: KeyPair
  /** The CA a mutual-TLS server trusts for client certificates (not the server CA, so that the two cannot be mixed up). */
  readonly clientCa: Pem
  /** A client certificate signed by clientCa; `encryptedKey` is the same key under `passphrase`. */
  readonly client: KeyPair & { readonly encryptedKey: Pem; readonly passphrase: string }
}

// EC P-256: key generation takes milliseconds, where RSA takes a good part of a second.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
const DAYS = ['-days', '2']

/** Makes a new CA, server and client certificates with openssl, into a new temporary folder. */
export function makeCerts(): TestCerts {
  const dir = tempDir('step-runner-certs-')
  const file = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  const pem = (name: string): Pem => ({ pem: readFileSync(file(name), 'utf8'), path: file(name) })

  const makeCa = (name: string, cn: string) =>
    openssl('req', '-x509', ...NEW_KEY, ...DAYS, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${cn}`,
      // Written out rather than left to openssl.cnf, whose defaults vary between systems.
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')

  /** A leaf certificate signed by a CA, with the given extensions. */
  const makeLeaf = (name: string, ca: string, cn: string, extensions: string[]) => {
    openssl('req', '-new', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`)
    writeFileSync(file(`${name}.ext`), ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions, ''].join('\n'))
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-CAserial', `${ca}.srl`, ...DAYS,
      '-extfile', `${name}.ext`, '-out', `${name}.pem`)
  }

  makeCa('ca', 'step-runner test CA')
  makeLeaf('server', 'ca', 'localhost', ['extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:payments.internal'])
  makeLeaf('other', 'ca', 'other.internal', ['extendedKeyUsage=serverAuth', 'subjectAltName=DNS:other.internal'])
  makeCa('client-ca', 'step-runner test client CA')
  makeLeaf('client', 'client-ca', 'step-runner test client', ['extendedKeyUsage=clientAuth'])
  const passphrase = 'correct horse battery staple'
  openssl('pkey', '-in', 'client.key', '-aes256', '-passout', `pass:${passphrase}`, '-out', 'client-encrypted.key')

  return {
    dir,
    ca: pem('ca.pem'),
    server: { cert: pem('server.pem'), key: pem('server.key') },
    otherServer: { cert: pem('other.pem'), key: pem('other.key') },
    clientCa: pem('client-ca.pem'),
    client: { cert: pem('client.pem'), key: pem('client.key'), encryptedKey: pem('client-encrypted.key'), passphrase },
  }
}
