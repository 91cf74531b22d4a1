"""Electronic seals and signatures (GB/T 38540-2020 v4 structures, TEST ONLY keys).

One module per step, in the order a seal comes to life::

    asn1.py       the SESeal / SES_Signature ASN.1 definitions (asn1crypto)
    pki.py        the TEST ONLY root → seal-maker CA → signer certificates, and the keystore
    keyfile.py    its files: encrypted PKCS#8 keys (PBKDF2, 600,000 iterations), passphrase rule
    signer.py     the signing seam: digest in, DER ECDSA signature out (an HSM/SM2 plugs in here)
    making.py     draw the seal image, make and parse a SESeal
    signature.py  build SES_Signature DER fast for many licenses, and parse it

Import from the submodules; this package re-exports nothing, so each caller pulls in only
what it uses (the PKI helpers need neither Pillow nor the ASN.1 classes)::

    from registry.seal.signature import SealingContext, assemble
"""

__all__: list[str] = []
