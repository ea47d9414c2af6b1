//! The worked test vector of docs/protocol.md §6, byte for byte.

use clp::{
    challenge_preimage, challenge_value, response_digest, response_preimage, verify_signature,
    Address, ClpResponse, Hash32, PublicKey, Signature,
};
use ed25519_dalek::SigningKey;

const CHAIN_ID: &str = "clp-testnet";
const H: u64 = 2;

fn block_hash() -> Hash32 {
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        .parse()
        .unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

#[test]
fn challenge_preimage_and_value() {
    let pre = challenge_preimage(CHAIN_ID, H, &block_hash());
    let expected = unhex(
        "616c7068616f732e636c702e6368616c6c656e67652e7631 000b 636c702d746573746e6574
         0000000000000002 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    );
    assert_eq!(pre.len(), 77);
    assert_eq!(pre, expected);
    assert_eq!(
        challenge_value(CHAIN_ID, H, &block_hash()).to_hex(),
        "d7e37d7c5f581a5cad7a34907d0a3d8fc90ebe1270bd60b8dfd2b4746ed9a80a"
    );
}

#[test]
fn key_address_digest_and_signature() {
    let seed = [7u8; 32];
    let pk = PublicKey(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
    assert_eq!(
        pk.to_hex(),
        "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    );
    let address = Address::from_public_key(&pk);
    assert_eq!(address.to_hex(), "8d2d1c260127c74476b27136c5e38c003b66b889");

    let value = challenge_value(CHAIN_ID, H, &block_hash());
    let pre = response_preimage(CHAIN_ID, H, &value, &address);
    let expected = unhex(
        "616c7068616f732e636c702e726573706f6e73652e7631 000b 636c702d746573746e6574
         0000000000000002 d7e37d7c5f581a5cad7a34907d0a3d8fc90ebe1270bd60b8dfd2b4746ed9a80a
         8d2d1c260127c74476b27136c5e38c003b66b889",
    );
    assert_eq!(pre.len(), 96);
    assert_eq!(pre, expected);
    let digest = response_digest(CHAIN_ID, H, &value, &address);
    assert_eq!(
        digest.to_hex(),
        "81812f638fcd05ae1960bc209dc218f5501bc3831b1c9f63838a0c51b41e4d48"
    );

    let r = ClpResponse::sign(CHAIN_ID, H, &value, &seed);
    let sig = "4e8f9c19cd560dad7ae930bc3722332c9738e5e2198b9df4416e04ed3b743053\
               7569d331b98138401765c9fc44b49119aa62a083bf09d7d74f1c25b0fd4a1306";
    assert_eq!(r.signature.to_hex(), sig);
    assert_eq!(r.validator, address);
    assert_eq!(r.challenge_height, H);
    assert!(verify_signature(
        &pk,
        &digest,
        &sig.parse::<Signature>().unwrap()
    ));
    // One flipped bit of the digest no longer verifies.
    let mut other = digest;
    other.0[0] ^= 1;
    assert!(!verify_signature(&pk, &other, &r.signature));
}
